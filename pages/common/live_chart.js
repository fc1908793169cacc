// The curves of the svg_chart picture, drawn into a canvas laid over it: each frame strokes only
// the stretch of each curve that is new since the last frame, so a frame costs next to nothing.
function readCurves(group) {
  const lines = [...group.querySelectorAll("polyline")].map((p) => ({
    colour: p.getAttribute("stroke"), width: parseFloat(p.getAttribute("stroke-width")), done: 0,
    points: p.getAttribute("points").trim().split(/\s+/).map((xy) => xy.split(",").map(Number)),
  }));
  const dots = [...group.querySelectorAll("circle")].map((c) => ({
    x: +c.getAttribute("cx"), y: +c.getAttribute("cy"), r: +c.getAttribute("r"),
    colour: c.getAttribute("fill"), done: false,
  }));
  return { lines, dots };
}

function drawTo(ctx, curves, to) {
  for (const line of curves.lines) {
    const pts = line.points;
    if (pts.length === 1) {  // a single point: a dot
      if (!line.done && pts[0][0] <= to) {
        ctx.fillStyle = line.colour;
        ctx.beginPath(); ctx.arc(pts[0][0], pts[0][1], line.width, 0, 7); ctx.fill();
        line.done = 1;
      }
      continue;
    }
    let i = line.done;
    if (i + 1 >= pts.length || pts[i + 1][0] > to) continue;
    ctx.strokeStyle = line.colour; ctx.lineWidth = line.width; ctx.lineJoin = "round"; ctx.lineCap = "round";
    ctx.beginPath(); ctx.moveTo(pts[i][0], pts[i][1]);
    while (i + 1 < pts.length && pts[i + 1][0] <= to) { i++; ctx.lineTo(pts[i][0], pts[i][1]); }
    ctx.stroke();
    line.done = i;
  }
  for (const dot of curves.dots) {
    if (dot.done || dot.x > to) continue;
    ctx.fillStyle = dot.colour; ctx.beginPath(); ctx.arc(dot.x, dot.y, dot.r, 0, 7); ctx.fill(); dot.done = true;
  }
}

export default function ({ data, parentElement }) {
  let box = parentElement.querySelector(".live-chart");
  if (!box) {
    box = document.createElement("div");
    box.className = "live-chart";
    box.style.position = "relative";
    parentElement.appendChild(box);
  }
  const state = box.live || (box.live = { svg: null, run: null, shown: null, last: 0, timer: null, frames: 0 });
  if (state.svg === data.svg) return;
  const now = performance.now();
  box.innerHTML = data.svg;
  const svg = box.querySelector("svg");
  svg.setAttribute("width", "100%");
  svg.style.display = "block";
  const group = svg.querySelector("g.data");
  const reach = group ? parseFloat(group.getAttribute("data-reach")) : 0;
  // Play from where the last picture had got to, over as long as this one took to come.
  const sameRun = state.run === data.run && state.shown !== null;
  const from = sameRun ? Math.min(state.shown, reach) : reach;
  const duration = sameRun ? Math.min(now - state.last, data.longest) : 0;
  state.svg = data.svg; state.run = data.run; state.last = now;
  clearInterval(state.timer);
  if (!group) return;
  const curves = readCurves(group);
  group.style.display = "none";
  const canvas = document.createElement("canvas");
  canvas.style.cssText = "position:absolute;left:0;top:0;width:100%;height:100%;pointer-events:none";
  box.appendChild(canvas);
  const units = svg.viewBox.baseVal.width;
  let ctx = null, drawnWidth = 0;
  const frame = () => {
    const t = duration > 0 ? Math.min(1, (performance.now() - now) / duration) : 1;
    state.shown = from + (reach - from) * t;
    if (canvas.clientWidth !== drawnWidth) {  // first frame, or the page changed width: draw it all again
      drawnWidth = canvas.clientWidth;
      canvas.width = Math.round(drawnWidth * devicePixelRatio);
      canvas.height = Math.round(canvas.clientHeight * devicePixelRatio);
      ctx = canvas.getContext("2d");
      ctx.setTransform(canvas.width / units, 0, 0, canvas.width / units, 0, 0);
      for (const line of curves.lines) line.done = 0;
      for (const dot of curves.dots) dot.done = false;
    }
    drawTo(ctx, curves, state.shown);
    box.dataset.frames = String(++state.frames);
    if (t >= 1) clearInterval(state.timer);
  };
  frame();
  if (duration > 0) state.timer = setInterval(frame, data.frame_ms);
}
