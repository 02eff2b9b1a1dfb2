// A stacked bar chart drawn as inline SVG: one bar per day, one segment per series.

import { svg, el, clear } from './dom.js';

const PALETTE = ['#4f46e5', '#0ea5e9', '#10b981', '#f59e0b', '#ef4444', '#8b5cf6',
  '#14b8a6', '#f97316', '#ec4899', '#84cc16', '#6366f1', '#06b6d4'];
export const OTHER_COLOR = '#94a3b8';

export const colorFor = (index) => PALETTE[index % PALETTE.length];

const HEIGHT = 260;
const MARGIN = { top: 14, right: 10, bottom: 30, left: 58 };

/** 1, 2, 2.5, 5 × 10^n at or above the value. */
function niceCeil(value) {
  if (value <= 0) return 1;
  const exp = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * exp >= value) return step * exp;
  return 10 * exp;
}

/**
 * days: [{key, label, longLabel, total, parts: {seriesKey: amount}}]
 * series: [{key, label, color}]
 * formatValue: n -> "$1.00"
 */
export function renderStackedBars(container, { days, series, formatValue, ariaLabel }) {
  clear(container);
  const width = Math.max(300, Math.floor(container.clientWidth || 640));
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const max = niceCeil(Math.max(0, ...days.map((d) => d.total)));
  const y = (v) => MARGIN.top + plotH - (v / max) * plotH;

  const root = svg('svg', {
    viewBox: `0 0 ${width} ${HEIGHT}`, width, height: HEIGHT, role: 'img', 'aria-label': ariaLabel, class: 'chart-svg',
  });

  const ticks = 4;
  for (let i = 0; i <= ticks; i++) {
    const v = (max / ticks) * i;
    root.append(
      svg('line', { x1: MARGIN.left, x2: width - MARGIN.right, y1: y(v), y2: y(v), class: i === 0 ? 'axis' : 'grid' }),
      svg('text', { x: MARGIN.left - 8, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, formatValue(v)),
    );
  }

  const band = plotW / Math.max(1, days.length);
  const barW = Math.max(2, Math.min(36, band * 0.7));
  const labelEvery = Math.max(1, Math.ceil(days.length / Math.max(1, Math.floor(plotW / 64))));

  days.forEach((day, i) => {
    const x = MARGIN.left + band * i + (band - barW) / 2;
    const group = svg('g', { class: 'bar' });
    let acc = 0;
    for (const s of series) {
      const amount = day.parts[s.key] || 0;
      if (amount <= 0) continue;
      const top = y(acc + amount);
      const h = Math.max(0.5, y(acc) - top);
      group.append(svg('rect', { x, y: top, width: barW, height: h, fill: s.color },
        svg('title', {}, `${day.longLabel} · ${s.label}: ${formatValue(amount)}`)));
      acc += amount;
    }
    root.append(group);
    if (i % labelEvery === 0) {
      root.append(svg('text', { x: MARGIN.left + band * i + band / 2, y: HEIGHT - 10, 'text-anchor': 'middle', class: 'tick' }, day.label));
    }
  });

  if (!days.some((d) => d.total > 0)) {
    root.append(svg('text', { x: MARGIN.left + plotW / 2, y: MARGIN.top + plotH / 2, 'text-anchor': 'middle', class: 'chart-empty' },
      'No spending in this range'));
  }

  container.append(root, legend(series));
}

function legend(series) {
  return el('ul', { class: 'legend', 'aria-label': 'Legend' },
    series.map((s) => el('li', {},
      svg('svg', { width: 12, height: 12, 'aria-hidden': 'true' }, svg('rect', { width: 12, height: 12, rx: 2, fill: s.color })),
      el('span', { text: s.label }))));
}
