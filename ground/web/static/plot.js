// A line plot of one channel on a canvas: time (UTC) across, value up. No library needed.
export function drawPlot(canvas, name, points, limits = {}) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 48;
  ctx.clearRect(0, 0, w, h);
  const numeric = points.filter(([, v]) => typeof v === "number" || typeof v === "boolean")
    .map(([t, v]) => [t, Number(v)]);
  canvas.dataset.points = String(numeric.length);  // for the browser tests, and anyone inspecting the page
  ctx.fillStyle = "#1c2430";
  ctx.font = "12px system-ui";
  if (numeric.length === 0) {
    ctx.fillText(`${name}: no numeric values yet`, pad, h / 2);
    return;
  }
  const ts = numeric.map(([t]) => t), vs = numeric.map(([, v]) => v);
  const t0 = Math.min(...ts), t1 = Math.max(...ts);
  let v0 = Math.min(...vs), v1 = Math.max(...vs);
  if (v0 === v1) { v0 -= 1; v1 += 1; }
  const x = (t) => pad + ((t - t0) / Math.max(t1 - t0, 1e-9)) * (w - 2 * pad);
  const y = (v) => h - pad - ((v - v0) / (v1 - v0)) * (h - 2 * pad);
  ctx.strokeStyle = "#c9ced6";
  ctx.strokeRect(pad, pad, w - 2 * pad, h - 2 * pad);
  for (const [key, colour] of [["warning_low", "#d4a72c"], ["warning_high", "#d4a72c"],
                               ["critical_low", "#cf222e"], ["critical_high", "#cf222e"]]) {
    const limit = limits[key];
    if (limit === undefined || limit < v0 || limit > v1) continue;
    ctx.strokeStyle = colour;
    ctx.beginPath(); ctx.moveTo(pad, y(limit)); ctx.lineTo(w - pad, y(limit)); ctx.stroke();
  }
  ctx.strokeStyle = "#0969da";
  ctx.beginPath();
  numeric.forEach(([t, v], i) => (i ? ctx.lineTo(x(t), y(v)) : ctx.moveTo(x(t), y(v))));
  ctx.stroke();
  ctx.fillText(String(+v1.toPrecision(6)), 2, pad);
  ctx.fillText(String(+v0.toPrecision(6)), 2, h - pad);
  ctx.fillText(new Date(t0 * 1000).toISOString().slice(11, 19), pad, h - pad / 3);
  ctx.fillText(new Date(t1 * 1000).toISOString().slice(11, 19) + " UTC", w - pad - 80, h - pad / 3);
  ctx.fillText(`${name} (${numeric.length} values)`, pad, pad - 8);
}
