import { html, type SafeHtml } from './html';

/**
 * A line chart of use against purchase, drawn on the server as SVG (R23): no script, styled only
 * by presentation attributes (the pages' CSP allows no inline style). A title and a description
 * give screen readers the figures the lines show.
 */
export interface ChartPoint {
  day: string;
  purchased: number;
  inUse: number;
}

const WIDTH = 640;
const HEIGHT = 220;
const PAD = { left: 44, right: 16, top: 16, bottom: 36 };

function polyline(points: ChartPoint[], value: (p: ChartPoint) => number, x: (i: number) => number, y: (v: number) => number): string {
  return points.map((p, i) => `${x(i).toFixed(1)},${y(value(p)).toFixed(1)}`).join(' ');
}

export function useChart(id: string, title: string, points: ChartPoint[]): SafeHtml {
  if (points.length === 0) return html`<p>No use recorded yet for ${title}.</p>`;
  const max = Math.max(1, ...points.map((p) => Math.max(p.purchased, p.inUse)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + (points.length === 1 ? plotW / 2 : (i * plotW) / (points.length - 1));
  const y = (v: number) => PAD.top + plotH - (v * plotH) / max;
  const last = points[points.length - 1];
  const desc = `From ${points[0].day} to ${last.day}: on ${last.day}, ${last.inUse} in use of ${last.purchased} purchased; highest use ${Math.max(...points.map((p) => p.inUse))}.`;
  const marks = (value: (p: ChartPoint) => number, color: string) =>
    points.map((p, i) => html`<circle cx="${x(i).toFixed(1)}" cy="${y(value(p)).toFixed(1)}" r="3" fill="${color}" />`);
  // The caption above its chart: below it, it read as the title of the next chart down the page.
  return html`<figure>
    <figcaption>${title}</figcaption>
    <svg
      xmlns="http://www.w3.org/2000/svg"
      viewBox="0 0 ${WIDTH} ${HEIGHT}"
      width="100%"
      role="img"
      aria-labelledby="${id}-title ${id}-desc"
    >
      <title id="${id}-title">${title}: use against purchase</title>
      <desc id="${id}-desc">${desc}</desc>
      <line x1="${PAD.left}" y1="${PAD.top + plotH}" x2="${WIDTH - PAD.right}" y2="${PAD.top + plotH}" stroke="#4a4a4a" />
      <line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${PAD.top + plotH}" stroke="#4a4a4a" />
      <text x="${PAD.left - 6}" y="${PAD.top + 4}" text-anchor="end" fill="#1b1b1b">${max}</text>
      <text x="${PAD.left - 6}" y="${PAD.top + plotH}" text-anchor="end" fill="#1b1b1b">0</text>
      <text x="${PAD.left}" y="${HEIGHT - 14}" fill="#1b1b1b">${points[0].day}</text>
      <text x="${WIDTH - PAD.right}" y="${HEIGHT - 14}" text-anchor="end" fill="#1b1b1b">${last.day}</text>
      <polyline points="${polyline(points, (p) => p.purchased, x, y)}" fill="none" stroke="#0b4f9c" stroke-width="2.5" />
      <polyline points="${polyline(points, (p) => p.inUse, x, y)}" fill="none" stroke="#c2410c" stroke-width="2.5" stroke-dasharray="6 3" />
      ${marks((p) => p.purchased, '#0b4f9c')} ${marks((p) => p.inUse, '#c2410c')}
      <rect x="${WIDTH - 200}" y="2" width="10" height="10" fill="#0b4f9c" />
      <text x="${WIDTH - 186}" y="11" fill="#1b1b1b">purchased</text>
      <rect x="${WIDTH - 110}" y="2" width="10" height="10" fill="#c2410c" />
      <text x="${WIDTH - 96}" y="11" fill="#1b1b1b">in use</text>
    </svg>
  </figure>`;
}
