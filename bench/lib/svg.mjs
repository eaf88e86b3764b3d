// Hand-written SVG: one horizontal bar per variant at its median, with a
// min..max whisker so the noise is as visible as the result.

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

function fmt(x) {
  if (!Number.isFinite(x)) return 'n/a';
  const a = Math.abs(x);
  return a >= 1000 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2);
}

export function barChart(comparison) {
  const { rows, title, unit, baseline } = comparison;
  const labelW = 210;
  const valueW = 150;
  const plotW = 400;
  const rowH = 30;
  const top = 40;
  const width = labelW + plotW + valueW;
  const height = top + rows.length * rowH + 34;
  const hi = Math.max(...rows.map((r) => (Number.isFinite(r.max) ? r.max : 0)), 1e-9) * 1.08;
  const x = (v) => labelW + (Math.max(0, v) / hi) * plotW;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="22" font-size="14" font-weight="bold">${esc(title)} (${esc(unit)})</text>`,
  ];
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const isBase = r.id === baseline;
    const fill = isBase ? '#9aa5b1' : '#3b7dd8';
    out.push(`<text x="${labelW - 8}" y="${y + 17}" text-anchor="end">${esc(r.label)}</text>`);
    if (Number.isFinite(r.median)) {
      out.push(
        `<rect x="${labelW}" y="${y + 5}" width="${(x(r.median) - labelW).toFixed(1)}" height="${rowH - 12}" fill="${fill}"><title>${esc(`${r.label}: median ${fmt(r.median)} ${unit}, min ${fmt(r.min)}, max ${fmt(r.max)}, n=${r.n}`)}</title></rect>`,
      );
      const wy = y + rowH / 2 - 1;
      out.push(
        `<line x1="${x(r.min).toFixed(1)}" x2="${x(r.max).toFixed(1)}" y1="${wy}" y2="${wy}" stroke="#222" stroke-width="1.5"/>`,
      );
      for (const v of [r.min, r.max])
        out.push(
          `<line x1="${x(v).toFixed(1)}" x2="${x(v).toFixed(1)}" y1="${wy - 5}" y2="${wy + 5}" stroke="#222" stroke-width="1.5"/>`,
        );
    }
    const rel = isBase ? 'baseline' : Number.isFinite(r.ratio) ? `×${r.ratio.toFixed(3)}` : '';
    out.push(`<text x="${labelW + plotW + 8}" y="${y + 17}">${esc(`${fmt(r.median)} ${rel}`)}</text>`);
  });
  const axisY = top + rows.length * rowH + 4;
  out.push(`<line x1="${labelW}" x2="${labelW + plotW}" y1="${axisY}" y2="${axisY}" stroke="#888"/>`);
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const v = hi * f;
    out.push(
      `<text x="${x(v).toFixed(1)}" y="${axisY + 16}" text-anchor="middle" fill="#555" font-size="10">${esc(fmt(v))}</text>`,
    );
  }
  out.push(`<text x="10" y="${axisY + 16}" fill="#555" font-size="10">bar = median, whisker = min..max</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
