// Trade page of the Pixiu exchange demo. The form works without this script;
// it only remembers the last trade (so the next one starts from it), colours
// the form by side and adds the ±1% buttons.
(function () {
  'use strict';

  var KEY = 'pixiu-demo-last-trade';
  var form = document.getElementById('trade-form');
  var price = document.getElementById('price');
  var amount = document.getElementById('amount');

  function side() {
    var checked = form.querySelector('input[name="side"]:checked');
    return checked ? checked.value : 'buy';
  }

  function showSide() {
    form.classList.toggle('sell', side() === 'sell');
    form.classList.toggle('buy', side() !== 'sell');
  }

  // Start from the last published trade, unless the server sent a refused
  // form back to fix.
  var last = null;
  try { last = JSON.parse(sessionStorage.getItem(KEY) || 'null'); } catch (e) { /* storage off */ }
  if (last && !form.dataset.refused) {
    price.value = last.price;
    if (last.amount) amount.value = last.amount;
    var radio = form.querySelector('input[name="side"][value="' + (last.side === 'sell' ? 'sell' : 'buy') + '"]');
    if (radio) radio.checked = true;
    var notice = document.getElementById('notice');
    if (notice && notice.classList.contains('ok')) {
      notice.textContent = 'Published: ' + [(last.side || 'buy').toUpperCase(), last.amount, '@', last.price]
        .filter(Boolean).join(' ');
    }
  }
  showSide();

  form.addEventListener('change', showSide);
  form.addEventListener('submit', function () {
    try {
      sessionStorage.setItem(KEY, JSON.stringify({ price: price.value, amount: amount.value, side: side() }));
    } catch (e) { /* storage off */ }
  });

  Array.prototype.forEach.call(document.querySelectorAll('[data-nudge]'), function (b) {
    b.addEventListener('click', function () {
      var v = Number(price.value);
      if (!(v > 0)) return;
      var next = v * (1 + Number(b.dataset.nudge));
      price.value = String(Math.round(next * 100) / 100);
      price.focus();
    });
  });
})();
