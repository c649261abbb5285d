'use strict';
// The status page: renders GET /v1/status every few seconds.
(() => {
  const $ = (id) => document.getElementById(id);
  const fmt = (value, digits = 4) =>
    value === null || value === undefined
      ? '–'
      : typeof value === 'number'
        ? Number(value.toFixed(digits)).toString()
        : String(value);

  function cell(text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function definition(list, term, value) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    list.append(dt, dd);
  }

  function render(status) {
    $('summary').textContent =
      `Subnet ${status.netuid} · ${status.mode === 'local' ? 'standalone (local) mode' : 'Subtensor'} · block ${fmt(status.block)}` +
      (status.updated_at ? ` · metagraph updated ${new Date(status.updated_at).toLocaleTimeString()}` : '');
    // Which model answers: the models the active miners announce.
    const models = [...new Set(status.miners.filter((m) => m.active && m.model).map((m) => m.model))];
    $('served-model').textContent = models.length > 0 ? `Model served: ${models.join(', ')}` : 'Model served: no active miner yet';

    const validator = $('validator');
    validator.replaceChildren();
    const v = status.validator;
    if (v) {
      definition(validator, 'Hotkey', v.hotkey);
      definition(validator, 'UID', fmt(v.uid));
      definition(validator, 'Stake', v.stake === null ? '–' : `${fmt(v.stake, 4)} τ`);
      definition(validator, 'Delegate take', v.take === null ? '–' : `${fmt(v.take * 100, 2)} %`);
      definition(
        validator,
        'Total delegated stake',
        v.total_stake === null ? '–' : `${fmt(v.total_stake, 4)} τ`,
      );
      definition(validator, 'Nominators', fmt(v.nominators));
      definition(validator, 'Serving', v.reporting ? 'yes' : 'no recent report');
      $('delegate-command').textContent = v.delegate_command;
    } else {
      definition(validator, 'Hotkey', 'no validator in the metagraph yet');
    }

    const health = Object.entries(status.health).filter(([name]) => name !== 'checks');
    $('health').replaceChildren(
      ...health.map(([name, value]) => {
        const li = document.createElement('li');
        li.className = value;
        li.dataset.service = name;
        li.textContent = `${name.replace('_', ' ')}: ${value}`;
        return li;
      }),
    );

    $('miners').tBodies[0].replaceChildren(
      ...status.miners.map((m) => {
        const tr = document.createElement('tr');
        tr.dataset.uid = String(m.uid);
        tr.append(
          cell(String(m.uid)),
          cell(m.hotkey, 'hotkey'),
          cell(m.model ?? '–'),
          cell(m.active ? 'yes' : 'no'),
          cell(fmt(m.score), 'score'),
          cell(fmt(m.weight), 'weight'),
          cell(fmt(m.incentive)),
        );
        return tr;
      }),
    );

    const w = status.last_weights;
    $('weights').textContent = w
      ? `block ${w.block} at ${new Date(w.at).toLocaleString()}: ` +
        w.uids.map((uid, i) => `uid ${uid} → ${fmt(w.weights[i])}`).join(', ')
      : 'none yet';
  }

  async function refresh() {
    try {
      const res = await fetch('/v1/status');
      render(await res.json());
    } catch (error) {
      $('summary').textContent = `status unavailable: ${error.message}`;
    }
  }
  void refresh();
  setInterval(refresh, 3000);
})();
