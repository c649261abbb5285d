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

  // A small line chart of a miner's recent scores (0 to 1), as inline SVG.
  function sparkline(values) {
    const td = document.createElement('td');
    td.className = 'history';
    if (!values || values.length < 2) {
      td.textContent = '–';
      return td;
    }
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    const width = 120;
    const height = 24;
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    svg.setAttribute('width', String(width));
    svg.setAttribute('height', String(height));
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', `score over time, latest ${fmt(values[values.length - 1], 3)}`);
    const line = document.createElementNS(ns, 'polyline');
    const step = width / (values.length - 1);
    line.setAttribute(
      'points',
      values
        .map(
          (v, i) =>
            `${(i * step).toFixed(1)},${(height - 1 - Math.max(0, Math.min(1, v)) * (height - 2)).toFixed(1)}`,
        )
        .join(' '),
    );
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', 'currentColor');
    line.setAttribute('stroke-width', '1.5');
    svg.append(line);
    td.append(svg);
    return td;
  }

  function verification(m) {
    const v = m.verification;
    if (!v) return cell('off', 'verification');
    const failures = Object.entries(v.failed)
      .map(([reason, count]) => `${reason} ${count}`)
      .join(', ');
    const excluded = m.excluded_until
      ? ` · excluded until ${new Date(m.excluded_until).toLocaleTimeString()}`
      : '';
    return cell(
      `${v.verified} ok (${v.synthetic_verified} synthetic)` +
        (failures ? ` · failed: ${failures}` : '') +
        excluded,
      m.excluded_until ? 'verification excluded' : 'verification',
    );
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
          verification(m),
          sparkline(m.score_history),
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
