/*! Pixiu recovery for pusher-js 8 — missed events after a reconnect, in order, exactly once.
 * Usage: var pusher = PixiuRecovery.wrap(new Pusher(key, options), { since: { channel: id } });
 * (since: optional, the last id a page already has per channel, e.g. from the history endpoint).
 * Channels whose app keeps history (the app's history.channels) then recover: after pusher-js
 * reconnects and resubscribes, the events missed meanwhile reach the channel's bind callbacks
 * before newer ones, none twice. When too much was missed the channel emits
 * 'pixiu:recovery_failed' ({reason, since}): refetch the state. Served by Pixiu at /pixiu/recovery.js.
 */
(function (root) {
  'use strict';
  var ID_FIELD = ',"id":"';
  var TIMEOUT_MS = 15000;
  var MAX_SOCKETS = 10;

  // frameId returns the history id of a raw frame: Pixiu writes it as the last field.
  function frameId(raw) {
    if (typeof raw !== 'string') return '';
    var i = raw.lastIndexOf(ID_FIELD);
    if (i < 0) return '';
    var start = i + ID_FIELD.length;
    var end = raw.indexOf('"', start);
    if (end < 0 || raw.slice(end + 1).replace(/\s+$/, '') !== '}') return '';
    var id = raw.slice(start, end);
    return /^\d+-\d+$/.test(id) ? id : '';
  }

  // cmp orders two ids "<ms>-<seq>".
  function cmp(a, b) {
    var i = a.indexOf('-'), j = b.indexOf('-');
    return Number(a.slice(0, i)) - Number(b.slice(0, j)) || Number(a.slice(i + 1)) - Number(b.slice(j + 1));
  }

  function wrap(pusher, options) {
    if (pusher.__pixiuRecovery) return pusher;
    var opts = options || {};
    var timeoutMs = opts.timeoutMs || TIMEOUT_MS;
    var current = '';   // the id of the frame being dispatched
    var sockets = [];   // this page's socket ids, newest last
    var hooked = {};    // channel name → Channel object hooked

    function hookTransport() {
      var conn = pusher.connection && pusher.connection.connection;
      var t = conn && conn.transport;
      var id = pusher.connection && pusher.connection.socket_id;
      if (id && sockets[sockets.length - 1] !== id) {
        sockets.push(id);
        if (sockets.length > MAX_SOCKETS) sockets.shift();
      }
      if (!t || t.__pixiuRecovery || typeof t.onMessage !== 'function') return;
      var orig = t.onMessage;
      t.onMessage = function (message) {
        current = frameId(message && message.data);
        try {
          return orig.apply(this, arguments);
        } finally {
          current = '';
        }
      };
      t.__pixiuRecovery = true;
    }

    function hookChannel(ch) {
      if (!ch || hooked[ch.name] === ch) return ch;
      hooked[ch.name] = ch;
      var st = { last: (opts.since && opts.since[ch.name]) || '', pending: false, since: '', held: [], off: false, timer: null };
      var handle = ch.handleEvent;

      function deliver(item) {
        if (st.last && cmp(item.id, st.last) <= 0) return; // seen already
        st.last = item.id;
        handle.call(ch, item.event);
      }

      function finish(lastId, failed) {
        clearTimeout(st.timer);
        st.pending = false;
        var held = st.held;
        st.held = [];
        held.sort(function (a, b) { return cmp(a.id, b.id); });
        for (var i = 0; i < held.length; i++) {
          if (!failed && st.since && cmp(held[i].id, st.since) <= 0) continue;
          deliver(held[i]);
        }
        if (!failed && lastId && (!st.last || cmp(lastId, st.last) > 0)) st.last = lastId;
        // Nothing kept yet: recover from the channel's beginning ("0-0").
        if (!failed && !st.last) st.last = '0-0';
      }

      function start() {
        if (st.off) return;
        clearTimeout(st.timer);
        st.pending = true;
        st.since = st.last;
        var exclude = sockets.slice(0, -1); // earlier connections of this page
        pusher.send_event('pixiu:recover', { since: st.since, exclude: exclude }, ch.name);
        st.timer = setTimeout(function () {
          if (!st.pending) return;
          var since = st.since;
          finish('', true);
          if (since) handle.call(ch, { event: 'pixiu:recovery_failed', channel: ch.name, data: { reason: 'timeout', since: since } });
        }, timeoutMs);
      }

      ch.handleEvent = function (event) {
        var name = event && event.event;
        var id = current;
        if (name === 'pusher_internal:subscription_succeeded') {
          handle.call(ch, event);
          start();
          return;
        }
        if (name === 'pixiu:recovered') {
          finish((event.data && event.data.last_id) || '', false);
          return;
        }
        if (name === 'pixiu:recovery_failed') {
          var since = st.since, reason = event.data && event.data.reason;
          if (reason === 'history_off') st.off = true;
          finish('', true);
          if (since && reason !== 'history_off') handle.call(ch, event); // the page refetches
          return;
        }
        if (!id) return handle.call(ch, event);
        if (st.pending) {
          st.held.push({ id: id, event: event });
          return;
        }
        deliver({ id: id, event: event });
      };
      return ch;
    }

    var subscribe = pusher.subscribe;
    pusher.subscribe = function () {
      return hookChannel(subscribe.apply(pusher, arguments));
    };
    pusher.connection.bind('connected', hookTransport);
    hookTransport();
    pusher.__pixiuRecovery = true;
    return pusher;
  }

  root.PixiuRecovery = { wrap: wrap, frameId: frameId, compareIds: cmp };
})(typeof window !== 'undefined' ? window : this);
