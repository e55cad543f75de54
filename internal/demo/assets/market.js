// Market page of the Pixiu exchange demo: subscribes to the trades channel
// with pusher-js and shows the latest price, a live chart, the last trades and
// the connection state. Plain JavaScript, no framework.
(function () {
  'use strict';

  var MAX_TRADES = 25;  // rows kept in the trades table
  var MAX_POINTS = 120; // prices kept in the chart
  var SVG = 'http://www.w3.org/2000/svg';

  var root = document.getElementById('market');
  var cfg = root.dataset; // appKey, channel, event
  var $ = function (id) { return document.getElementById(id); };

  var priceFmt = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 8 });
  var amountFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 8 });
  var pctFmt = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2, signDisplay: 'always' });
  var timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  // The trade form stops at 1e12, but an application (or `pixiu trigger`) may
  // publish any number: past 1e15 they are shown as 1.2345E20, not as a
  // hundred digits wider than the page.
  var sciFmt = new Intl.NumberFormat('en-US', { notation: 'scientific', maximumFractionDigits: 4 });
  var BIG = 1e15;
  function fmtPrice(v) { return Math.abs(v) < BIG ? priceFmt.format(v) : sciFmt.format(v); }
  function fmtAmount(v) { return Math.abs(v) < BIG ? amountFmt.format(v) : sciFmt.format(v); }
  function fmtPct(v) { return Math.abs(v) < 1e6 ? pctFmt.format(v) : (v > 0 ? '+' : '') + sciFmt.format(v); }

  var market = { points: [], last: null, high: null, low: null, count: 0, volume: 0 };

  // toTrade accepts what the demo publishes ({price, amount, side, time}) and
  // also what a hand-made `pixiu trigger` might send: {"price": 1}, "1" or 1.
  function toTrade(data) {
    if (typeof data === 'number' || typeof data === 'string') data = { price: data };
    if (!data || typeof data !== 'object') return null;
    var price = Number(data.price);
    if (!isFinite(price)) return null;
    var amount = Number(data.amount);
    var time = data.time ? new Date(data.time) : new Date();
    return {
      price: price,
      amount: isFinite(amount) && amount > 0 ? amount : null,
      side: data.side === 'sell' ? 'sell' : data.side === 'buy' ? 'buy' : null,
      time: isNaN(time.getTime()) ? new Date() : time
    };
  }

  function onTrade(data) {
    var t = toTrade(data);
    if (!t) return;
    var prev = market.last;
    market.last = t.price;
    market.count++;
    market.volume += t.amount || 0;
    market.high = market.high === null ? t.price : Math.max(market.high, t.price);
    market.low = market.low === null ? t.price : Math.min(market.low, t.price);
    market.points.push(t.price);
    if (market.points.length > MAX_POINTS) market.points.shift();
    showPrice(t.price, prev);
    showStats();
    addTradeRow(t, prev);
    drawChart();
  }

  function showPrice(price, prev) {
    var el = $('last-price');
    var change = $('change');
    el.textContent = fmtPrice(price);
    document.title = fmtPrice(price) + ' · Market · Pixiu exchange demo';
    var dir = prev === null || price === prev ? '' : price > prev ? 'up' : 'down';
    el.classList.remove('none', 'up', 'down', 'flash-up', 'flash-down');
    change.classList.remove('up', 'down');
    if (dir) {
      void el.offsetWidth; // restart the flash animation
      el.classList.add(dir, 'flash-' + dir);
      change.classList.add(dir);
    }
    if (prev === null) {
      change.textContent = 'First trade since this page opened';
    } else {
      var diff = price - prev;
      change.textContent = (dir === 'up' ? '▲ +' : dir === 'down' ? '▼ −' : '■ ') +
        fmtPrice(Math.abs(diff)) + '  (' + fmtPct(diff / prev * 100) + '%)';
    }
  }

  function showStats() {
    $('stat-high').textContent = fmtPrice(market.high);
    $('stat-low').textContent = fmtPrice(market.low);
    $('stat-count').textContent = String(market.count);
    $('stat-volume').textContent = fmtAmount(market.volume);
  }

  function cell(text, className) {
    var td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function addTradeRow(t, prev) {
    var body = $('trades');
    var tr = document.createElement('tr');
    tr.className = 'new';
    var side = t.side || (prev !== null && t.price < prev ? 'sell' : 'buy');
    var sideCell = cell('');
    var tag = document.createElement('span');
    tag.className = 'side-tag ' + side;
    tag.textContent = t.side || '—';
    sideCell.appendChild(tag);
    tr.appendChild(cell(timeFmt.format(t.time), 'time'));
    tr.appendChild(sideCell);
    tr.appendChild(cell(fmtPrice(t.price), 'num'));
    tr.appendChild(cell(t.amount === null ? '—' : fmtAmount(t.amount), 'num'));
    body.insertBefore(tr, body.firstChild);
    while (body.children.length > MAX_TRADES) body.removeChild(body.lastChild);
    $('trades-empty').hidden = true;
  }

  function svgEl(name, attrs) {
    var el = document.createElementNS(SVG, name);
    for (var k in attrs) el.setAttribute(k, attrs[k]);
    return el;
  }

  // niceTicks returns 3 to 6 round values spanning [min, max] (1, 2, 2.5 or 5
  // times a power of ten apart), for the chart's grid lines.
  function niceTicks(min, max) {
    var span = max - min || Math.abs(max) * 0.02 || 1;
    var raw = span / 4;
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var n = raw / mag;
    var step = (n <= 1 ? 1 : n <= 2 ? 2 : n <= 2.5 ? 2.5 : n <= 5 ? 5 : 10) * mag;
    var lo = Math.floor(min / step) * step, hi = Math.ceil(max / step) * step;
    if (hi - lo < step) { lo -= step; hi += step; } // one price: centre it
    var ticks = [];
    // At most a dozen: near the largest doubles hi may overflow to Infinity.
    for (var v = lo; v <= hi + step / 2 && ticks.length < 12; v += step) ticks.push(Math.round(v / step) * step);
    return ticks;
  }

  // drawChart redraws the whole chart: few points, so no diffing.
  function drawChart() {
    var svg = $('chart');
    // One price is drawn as a flat line across the chart.
    var pts = market.points.length === 1 ? [market.points[0], market.points[0]] : market.points;
    $('chart-empty').hidden = pts.length > 0;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    if (!pts.length) return;
    var w = svg.clientWidth || 600, h = svg.clientHeight || 240;
    var padL = 4, padR = 72, padT = 12, padB = 12; // room on the right for labels
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    svg.setAttribute('class', 'chart ' + (pts[pts.length - 1] >= pts[0] ? 'up' : 'down'));

    var ticks = niceTicks(Math.min.apply(null, pts), Math.max.apply(null, pts));
    var lo = ticks[0], hi = ticks[ticks.length - 1];
    var x = function (i) { return padL + i * (w - padL - padR) / (pts.length - 1); };
    var y = function (v) { return padT + (hi - v) * (h - padT - padB) / (hi - lo); };

    ticks.forEach(function (v) {
      var gy = y(v);
      svg.appendChild(svgEl('line', { 'class': 'grid', x1: padL, x2: w - padR + 8, y1: gy, y2: gy }));
      var label = svgEl('text', { 'class': 'label', x: w - padR + 14, y: gy + 4 });
      label.textContent = Math.abs(v) < 1e9 ? fmtPrice(v) : sciFmt.format(v); // room for about 12 characters
      svg.appendChild(label);
    });

    var grad = svgEl('linearGradient', { id: 'chart-fill', x1: 0, y1: 0, x2: 0, y2: 1 });
    grad.appendChild(svgEl('stop', { offset: '0%', 'class': 'stop-top' }));
    grad.appendChild(svgEl('stop', { offset: '100%', 'class': 'stop-bottom' }));
    var defs = svgEl('defs', {});
    defs.appendChild(grad);
    svg.appendChild(defs);

    var line = pts.map(function (p, i) { return (i ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(p).toFixed(1); }).join(' ');
    var area = line + ' L' + x(pts.length - 1).toFixed(1) + ' ' + (h - padB) + ' L' + x(0).toFixed(1) + ' ' + (h - padB) + ' Z';
    svg.appendChild(svgEl('path', { d: area, fill: 'url(#chart-fill)' }));
    svg.appendChild(svgEl('path', { d: line, 'class': 'line' }));
    svg.appendChild(svgEl('circle', { 'class': 'dot', cx: x(pts.length - 1), cy: y(pts[pts.length - 1]), r: 4.5 }));
  }

  // reset forgets every trade shown, before the page shows the kept ones again.
  function reset() {
    market = { points: [], last: null, high: null, low: null, count: 0, volume: 0 };
    var body = $('trades');
    while (body.firstChild) body.removeChild(body.firstChild);
    $('trades-empty').hidden = false;
    ['stat-high', 'stat-low'].forEach(function (id) { $(id).textContent = '—'; });
    $('stat-count').textContent = '0';
    $('stat-volume').textContent = '0';
    $('last-price').textContent = '—';
    drawChart();
  }

  // Live trades that arrive while the page refetches the kept ones wait here
  // (null: not refetching).
  var held = null;

  function onLiveTrade(data) {
    if (held) held.push(data);
    else onTrade(data);
  }

  // refetch shows the last kept trades again, when the recovery script could
  // not bring back what was missed (pixiu:recovery_failed: too many trades, or
  // the server lost its history in a restart): otherwise the page would go on
  // showing a price that is no longer the last.
  function refetch(channelName) {
    if (held || !window.fetch) return;
    held = [];
    var done = function (trades) {
      var waiting = held;
      held = null;
      var seen = {};
      // None kept (a restarted server's history is empty): what is shown
      // is still the newest known.
      if (trades && trades.length) {
        reset();
        trades.forEach(function (t) {
          seen[JSON.stringify(t.data)] = true;
          onTrade(t.data);
        });
        root.dataset.refetched = String(trades.length);
        $('sub-state').textContent = 'live on ' + channelName + ' · reloaded the last trades: too many were missed';
      }
      waiting.forEach(function (d) { if (!seen[JSON.stringify(d)]) onTrade(d); });
    };
    fetch('/demo/trades', { cache: 'no-store' }).then(function (r) { return r.json(); })
      .then(function (h) { done(h.trades || []); }, function () { done(null); });
  }

  // Connection state, as pusher-js reports it.
  var wasConnected = false;
  var labels = {
    initialized: 'starting…',
    connecting: 'connecting…',
    connected: 'connected',
    unavailable: 'unavailable, retrying…',
    failed: 'failed: no WebSocket support',
    disconnected: 'disconnected'
  };

  function showState(state, detail) {
    var label = labels[state] || state;
    if (state === 'connecting' && wasConnected) label = 'reconnecting…';
    if (state === 'connected') wasConnected = true;
    var el = $('conn');
    el.dataset.state = state;
    el.title = detail || '';
    $('conn-text').textContent = label;
  }

  // connect opens with the last trades kept in the channel's history, then
  // connects; with the recovery script, trades missed while the connection
  // is broken arrive after it comes back, once each, in order.
  function connect() {
    if (!cfg.appKey || !window.fetch) {
      connectLive('');
      return;
    }
    fetch('/demo/trades', { cache: 'no-store' }).then(function (r) { return r.json(); }).then(function (h) {
      var last = h.trades ? '0-0' : ''; // kept none yet: recover from the start
      (h.trades || []).forEach(function (t) {
        onTrade(t.data);
        last = t.id;
      });
      root.dataset.history = String((h.trades || []).length);
      connectLive(last);
    }, function () {
      connectLive('');
    });
  }

  function connectLive(since) {
    if (!cfg.appKey) {
      showState('failed', 'the demo has no app to connect with');
      $('conn-text').textContent = 'no app: not connected';
      $('sub-state').textContent = 'not subscribed';
      return;
    }
    if (typeof window.Pusher !== 'function') {
      showState('failed', 'pusher-js did not load');
      $('conn-text').textContent = 'failed: pusher-js did not load';
      return;
    }
    var secure = location.protocol === 'https:';
    var port = location.port ? Number(location.port) : (secure ? 443 : 80);
    var pusher = new window.Pusher(cfg.appKey, {
      cluster: 'mt1', // required by pusher-js 8; unused with wsHost
      wsHost: location.hostname,
      wsPort: port,
      wssPort: port,
      forceTLS: secure,
      enabledTransports: ['ws', 'wss'],
      disableStats: true
    });
    if (window.PixiuRecovery) {
      var known = {};
      if (since) known[cfg.channel] = since;
      pusher = window.PixiuRecovery.wrap(pusher, { since: known });
      root.dataset.recovery = 'true';
    }
    pusher.connection.bind('state_change', function (s) {
      showState(s.current, s.current === 'connected' ? 'socket ' + pusher.connection.socket_id : '');
      if (s.current !== 'connected' && root.dataset.subscribed === 'true') {
        // pusher-js subscribes again once it reconnects.
        root.dataset.subscribed = 'false';
        $('sub-state').textContent = 'offline: prices may be stale';
      }
    });
    pusher.connection.bind('error', function (err) {
      var e = err && err.error && err.error.data;
      if (e && e.message) $('conn').title = 'error ' + (e.code || '') + ': ' + e.message;
    });
    var channel = pusher.subscribe(cfg.channel);
    channel.bind('pusher:subscription_succeeded', function () {
      root.dataset.subscribed = 'true';
      $('sub-state').textContent = 'live on ' + cfg.channel;
    });
    channel.bind('pusher:subscription_error', function () {
      $('sub-state').textContent = 'could not subscribe to ' + cfg.channel;
    });
    channel.bind(cfg.event, onLiveTrade);
    channel.bind('pixiu:recovery_failed', function () { refetch(cfg.channel); });
    window.addEventListener('resize', drawChart);
  }

  showState('initialized');
  connect();
})();
