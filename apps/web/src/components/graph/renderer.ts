/**
 * Over 450 lines: the shaders, the buffers they read and the draw loop change together, in one class.
 *
 * A small WebGL2 renderer for a graph at fixed positions: edges as indexed quads (4 vertices each; instancing is
 * several times slower on SwiftShader), nodes as point sprites, two draw calls a frame. While the camera moves, the last drawn frame (drawn with a margin around the viewport) is
 * moved and scaled by a CSS transform, and the graph is drawn again once the camera rests: on a software GL
 * (headless Chromium on SwiftShader) drawing 50,000 edges takes most of a second, moving a bitmap does not.
 *
 * Coordinates: graph units with y up. The camera stores the viewport centre in framed coordinates (the graph's
 * bounding square mapped to [0, 1]) and a ratio (1 = the whole graph fits, smaller = zoomed in), so a saved
 * camera means the same view at any window size.
 */

export interface RendererCamera {
  x: number;
  y: number;
  ratio: number;
}

export interface RendererNodes {
  x: Float32Array; // [n] graph units
  y: Float32Array; // [n]
  radius: Float32Array; // [n] graph units
  color: Uint8Array; // [n, 4] RGBA
  /** 0 disc, 1 square, 2 ring (a disc drawn hollow). */
  shape: Uint8Array; // [n]
}

export interface RendererEdges {
  source: Int32Array; // [e] node index
  target: Int32Array; // [e]
  color: Uint8Array; // [e, 4] RGBA, straight alpha
  /** Screen pixels. */
  width: Float32Array; // [e]
}

export interface GraphBounds {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

const EDGE_VS = `#version 300 es
in vec2 a_corner;
in vec4 a_ends;
in vec4 a_color;
in float a_width;
uniform vec3 u_view; // centre x, centre y (graph), pixels per unit
uniform vec2 u_size; // viewport in CSS pixels
out vec4 v_color;
void main() {
  vec2 p0 = (a_ends.xy - u_view.xy) * u_view.z;
  vec2 p1 = (a_ends.zw - u_view.xy) * u_view.z;
  vec2 d = p1 - p0;
  float len = length(d);
  vec2 n = len > 1e-6 ? vec2(-d.y, d.x) / len : vec2(0.0);
  vec2 p = mix(p0, p1, a_corner.x) + n * a_corner.y * 0.5 * max(a_width, 0.6);
  gl_Position = vec4(p / (0.5 * u_size), 0.0, 1.0);
  // Sub-pixel widths fade instead of thinning, which keeps faint edges visible without aliasing.
  v_color = vec4(a_color.rgb, a_color.a * min(a_width / 0.6, 1.0));
}`;

const EDGE_FS = `#version 300 es
precision mediump float;
in vec4 v_color;
out vec4 o;
void main() { o = vec4(v_color.rgb * v_color.a, v_color.a); }`;

const NODE_VS = `#version 300 es
in vec2 a_pos;
in float a_radius;
in vec4 a_color;
in float a_shape;
uniform vec3 u_view;
uniform vec2 u_size;
uniform float u_dpr;
out vec4 v_color;
out float v_shape;
out float v_px;
void main() {
  vec2 p = (a_pos - u_view.xy) * u_view.z;
  gl_Position = vec4(p / (0.5 * u_size), 0.0, 1.0);
  v_px = max(2.0 * a_radius * u_view.z, 2.5) * u_dpr;
  gl_PointSize = v_px;
  v_color = a_color;
  v_shape = a_shape;
}`;

const NODE_FS = `#version 300 es
precision mediump float;
in vec4 v_color;
in float v_shape;
in float v_px;
out vec4 o;
void main() {
  vec2 c = gl_PointCoord * 2.0 - 1.0;
  float r = v_shape > 0.5 && v_shape < 1.5 ? max(abs(c.x), abs(c.y)) : length(c);
  float edge = 1.0 - 2.0 / v_px;
  float alpha = v_color.a * clamp((1.0 - r) * v_px * 0.5, 0.0, 1.0);
  if (alpha <= 0.0) discard;
  // A ring keeps only a rim a third of its radius wide.
  if (v_shape > 1.5 && r < 0.62) discard;
  // A darker rim separates touching nodes.
  vec3 rgb = r > edge ? v_color.rgb * 0.55 : v_color.rgb;
  o = vec4(rgb * alpha, alpha);
}`;

/**
 * Byte colours as floats: ANGLE on SwiftShader converts normalised byte attributes on the CPU at every draw,
 * which costs more than the whole frame otherwise.
 */
function unitColors(rgba: Uint8Array): Float32Array {
  const out = new Float32Array(rgba.length);
  for (let i = 0; i < rgba.length; i++) out[i] = rgba[i] / 255;
  return out;
}

function compile(gl: WebGL2RenderingContext, vs: string, fs: string): WebGLProgram {
  const program = gl.createProgram();
  for (const [type, src] of [
    [gl.VERTEX_SHADER, vs],
    [gl.FRAGMENT_SHADER, fs],
  ] as const) {
    const sh = gl.createShader(type);
    if (!sh) throw new Error('WebGL: cannot create a shader');
    gl.shaderSource(sh, src);
    gl.compileShader(sh);
    if (!gl.getShaderParameter(sh, gl.COMPILE_STATUS))
      throw new Error(`WebGL shader: ${gl.getShaderInfoLog(sh)}`);
    gl.attachShader(program, sh);
  }
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS))
    throw new Error(`WebGL link: ${gl.getProgramInfoLog(program)}`);
  return program;
}

export class GraphRenderer {
  readonly canvas: HTMLCanvasElement;
  private readonly host: HTMLElement;
  private readonly gl: WebGL2RenderingContext;
  private readonly edgeProgram: WebGLProgram;
  private readonly nodeProgram: WebGLProgram;
  private readonly edgeVao: WebGLVertexArrayObject;
  private readonly nodeVao: WebGLVertexArrayObject;
  private readonly buffers: Record<
    'corner' | 'ends' | 'edgeColor' | 'width' | 'index' | 'pos' | 'radius' | 'nodeColor' | 'shape',
    WebGLBuffer
  >;
  private nodes: RendererNodes | null = null;
  private nEdges = 0;
  private bounds: GraphBounds = { minX: 0, minY: 0, maxX: 1, maxY: 1 };
  private camera: RendererCamera = { x: 0.5, y: 0.5, ratio: 1 };
  private frame = 0;
  /** The camera of the frame on the canvas; the CSS transform maps it to the current camera. */
  private drawnCamera: RendererCamera | null = null;
  private settle: ReturnType<typeof setTimeout> | undefined;
  private lastMove = 0;
  private drawnSize = '';
  private needsDraw = true;
  /** Extra canvas around the viewport on each side, as a fraction of its size, revealed by panning. */
  private readonly overscan = 0.15;
  /** Milliseconds without camera change before the graph is drawn again at the new camera. */
  settleMs = 120;
  private readonly frameListeners = new Set<() => void>();
  private readonly cameraListeners = new Set<(c: RendererCamera) => void>();
  /** CSS pixels around the graph when it fits. */
  padding = 24;
  minRatio = 0.01;
  maxRatio = 4;

  constructor(container: HTMLElement) {
    this.canvas = document.createElement('canvas');
    this.canvas.style.cssText = `position:absolute;display:block;transform-origin:50% 50%;left:${-this.overscan * 100}%;top:${-this.overscan * 100}%;width:${100 + 200 * this.overscan}%;height:${100 + 200 * this.overscan}%`;
    this.host = container;
    container.appendChild(this.canvas);
    const gl = this.canvas.getContext('webgl2', { antialias: false, premultipliedAlpha: true, alpha: true });
    if (!gl) throw new Error('this browser has no WebGL2, which the graph view needs');
    this.gl = gl;
    this.edgeProgram = compile(gl, EDGE_VS, EDGE_FS);
    this.nodeProgram = compile(gl, NODE_VS, NODE_FS);
    const buf = () => gl.createBuffer();
    this.buffers = {
      corner: buf(),
      ends: buf(),
      edgeColor: buf(),
      width: buf(),
      index: buf(),
      pos: buf(),
      radius: buf(),
      nodeColor: buf(),
      shape: buf(),
    };

    const b = this.buffers;
    this.edgeVao = this.vertexArray(
      this.edgeProgram,
      [
        ['a_corner', b.corner, 2],
        ['a_ends', b.ends, 4],
        ['a_color', b.edgeColor, 4],
        ['a_width', b.width, 1],
      ],
      b.index,
    );
    this.nodeVao = this.vertexArray(this.nodeProgram, [
      ['a_pos', b.pos, 2],
      ['a_radius', b.radius, 1],
      ['a_color', b.nodeColor, 4],
      ['a_shape', b.shape, 1],
    ]);
  }

  /**
   * A vertex array that feeds each named attribute of `program` from its buffer (`size` floats a vertex) and,
   * when `elements` is given, draws by that index buffer.
   */
  private vertexArray(
    program: WebGLProgram,
    attributes: readonly (readonly [name: string, buffer: WebGLBuffer, size: number])[],
    elements?: WebGLBuffer,
  ): WebGLVertexArrayObject {
    const gl = this.gl;
    const vao = gl.createVertexArray();
    gl.bindVertexArray(vao);
    for (const [name, buffer, size] of attributes) {
      const loc = gl.getAttribLocation(program, name);
      gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
      gl.enableVertexAttribArray(loc);
      gl.vertexAttribPointer(loc, size, gl.FLOAT, false, 0, 0);
    }
    if (elements) gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, elements);
    gl.bindVertexArray(null);
    return vao;
  }

  /** Replaces the whole drawing; nodes with a NaN position are not drawn and edges touching them neither. */
  setGraph(nodes: RendererNodes, edges: RendererEdges, bounds: GraphBounds): void {
    this.nodes = nodes;
    this.bounds = bounds;
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.pos);
    const pos = new Float32Array(2 * nodes.x.length);
    for (let i = 0; i < nodes.x.length; i++) {
      pos[2 * i] = nodes.x[i];
      pos[2 * i + 1] = nodes.y[i];
    }
    gl.bufferData(gl.ARRAY_BUFFER, pos, gl.STATIC_DRAW);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.radius);
    gl.bufferData(gl.ARRAY_BUFFER, nodes.radius, gl.STATIC_DRAW);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.shape);
    gl.bufferData(gl.ARRAY_BUFFER, Float32Array.from(nodes.shape), gl.STATIC_DRAW);
    this.setNodeColors(nodes.color);
    const e = edges.source.length;
    const ends = new Float32Array(16 * e); // [e, 4 corners, (x0, y0, x1, y1)]
    const corner = new Float32Array(8 * e); // [e, 4 corners, (t, side)]
    const index = new Uint32Array(6 * e);
    for (let k = 0; k < e; k++) {
      const s = edges.source[k];
      const t = edges.target[k];
      for (let c = 0; c < 4; c++) {
        const o = 16 * k + 4 * c;
        ends[o] = nodes.x[s];
        ends[o + 1] = nodes.y[s];
        ends[o + 2] = nodes.x[t];
        ends[o + 3] = nodes.y[t];
        corner[8 * k + 2 * c] = c & 1;
        corner[8 * k + 2 * c + 1] = c < 2 ? -1 : 1;
      }
      const v = 4 * k;
      const o = 6 * k;
      index[o] = v;
      index[o + 1] = v + 1;
      index[o + 2] = v + 2;
      index[o + 3] = v + 2;
      index[o + 4] = v + 1;
      index[o + 5] = v + 3;
    }
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.ends);
    gl.bufferData(gl.ARRAY_BUFFER, ends, gl.STATIC_DRAW);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.corner);
    gl.bufferData(gl.ARRAY_BUFFER, corner, gl.STATIC_DRAW);
    gl.bindVertexArray(this.edgeVao);
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.buffers.index);
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, index, gl.STATIC_DRAW);
    gl.bindVertexArray(null);
    this.nEdges = e;
    this.setEdgeStyle(edges.color, edges.width);
  }

  setNodeColors(color: Uint8Array): void {
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.nodeColor);
    gl.bufferData(gl.ARRAY_BUFFER, unitColors(color), gl.DYNAMIC_DRAW);
    this.requestRender();
  }

  setEdgeStyle(color: Uint8Array, width: Float32Array): void {
    const gl = this.gl;
    const e = width.length;
    const color4 = new Float32Array(16 * e);
    const width4 = new Float32Array(4 * e);
    for (let k = 0; k < e; k++) {
      for (let c = 0; c < 4; c++) {
        for (let j = 0; j < 4; j++) color4[16 * k + 4 * c + j] = color[4 * k + j] / 255;
        width4[4 * k + c] = width[k];
      }
    }
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.edgeColor);
    gl.bufferData(gl.ARRAY_BUFFER, color4, gl.DYNAMIC_DRAW);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.width);
    gl.bufferData(gl.ARRAY_BUFFER, width4, gl.DYNAMIC_DRAW);
    this.requestRender();
  }

  getCamera(): RendererCamera {
    return { ...this.camera };
  }

  setCamera(c: RendererCamera): void {
    const ratio = Math.min(this.maxRatio, Math.max(this.minRatio, c.ratio));
    if (c.x === this.camera.x && c.y === this.camera.y && ratio === this.camera.ratio) return;
    this.camera = { x: c.x, y: c.y, ratio };
    for (const l of this.cameraListeners) l(this.getCamera());
    this.lastMove = performance.now();
    if (this.settle === undefined) this.armSettle(this.settleMs);
    this.schedule();
  }

  /** Draws again once the camera has not moved for settleMs. */
  private armSettle(ms: number): void {
    this.settle = setTimeout(() => {
      const still = performance.now() - this.lastMove;
      if (still < this.settleMs) {
        this.armSettle(this.settleMs - still);
        return;
      }
      this.settle = undefined;
      const d = this.drawnCamera;
      const c = this.camera;
      if (!d || d.x !== c.x || d.y !== c.y || d.ratio !== c.ratio) this.requestRender();
    }, ms);
  }

  onCamera(listener: (c: RendererCamera) => void): () => void {
    this.cameraListeners.add(listener);
    return () => this.cameraListeners.delete(listener);
  }

  onFrame(listener: () => void): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  private size(): { w: number; h: number } {
    return { w: Math.max(1, this.host.clientWidth), h: Math.max(1, this.host.clientHeight) };
  }

  private extent(): number {
    const b = this.bounds;
    return Math.max(b.maxX - b.minX, b.maxY - b.minY, 1e-9);
  }

  /** Pixels per graph unit and the graph point at the viewport centre. */
  private view(camera: RendererCamera = this.camera): { cx: number; cy: number; scale: number } {
    const { w, h } = this.size();
    const b = this.bounds;
    const gw = Math.max(b.maxX - b.minX, 1e-9);
    const gh = Math.max(b.maxY - b.minY, 1e-9);
    const fit = Math.min((w - 2 * this.padding) / gw, (h - 2 * this.padding) / gh);
    const ext = this.extent();
    const midX = (b.minX + b.maxX) / 2;
    const midY = (b.minY + b.maxY) / 2;
    return {
      cx: midX + (camera.x - 0.5) * ext,
      cy: midY + (camera.y - 0.5) * ext,
      scale: Math.max(fit, 1e-6) / camera.ratio,
    };
  }

  graphToViewport(x: number, y: number): { x: number; y: number } {
    const { w, h } = this.size();
    const v = this.view();
    return { x: w / 2 + (x - v.cx) * v.scale, y: h / 2 - (y - v.cy) * v.scale };
  }

  viewportToGraph(px: number, py: number): { x: number; y: number } {
    const { w, h } = this.size();
    const v = this.view();
    return { x: v.cx + (px - w / 2) / v.scale, y: v.cy - (py - h / 2) / v.scale };
  }

  /** Pixels per graph unit at the current zoom. */
  scale(): number {
    return this.view().scale;
  }

  /** The camera that puts graph point (x, y) at the viewport centre, at the current zoom. */
  cameraAt(x: number, y: number): RendererCamera {
    const b = this.bounds;
    const ext = this.extent();
    return {
      x: 0.5 + (x - (b.minX + b.maxX) / 2) / ext,
      y: 0.5 + (y - (b.minY + b.maxY) / 2) / ext,
      ratio: this.camera.ratio,
    };
  }

  /** Zooms by `factor` (< 1 zooms in) keeping the graph point under viewport pixel (px, py) in place. */
  zoomAround(px: number, py: number, factor: number): void {
    const before = this.viewportToGraph(px, py);
    const ratio = Math.min(this.maxRatio, Math.max(this.minRatio, this.camera.ratio * factor));
    const { w, h } = this.size();
    const b = this.bounds;
    const gw = Math.max(b.maxX - b.minX, 1e-9);
    const gh = Math.max(b.maxY - b.minY, 1e-9);
    const scale = Math.min((w - 2 * this.padding) / gw, (h - 2 * this.padding) / gh) / ratio;
    const cx = before.x - (px - w / 2) / scale;
    const cy = before.y + (py - h / 2) / scale;
    this.setCamera({ ...this.cameraAt(cx, cy), ratio });
  }

  panBy(dxPx: number, dyPx: number): void {
    const v = this.view();
    this.setCamera(this.cameraAt(v.cx - dxPx / v.scale, v.cy + dyPx / v.scale));
  }

  /** The drawn node under viewport pixel (px, py), nearest centre first; -1 when none. */
  pick(px: number, py: number, slackPx = 3): number {
    const nodes = this.nodes;
    if (!nodes) return -1;
    const g = this.viewportToGraph(px, py);
    const v = this.view();
    let best = -1;
    let bestD = Number.POSITIVE_INFINITY;
    for (let i = 0; i < nodes.x.length; i++) {
      const dx = nodes.x[i] - g.x;
      const dy = nodes.y[i] - g.y;
      if (Number.isNaN(dx) || Number.isNaN(dy)) continue;
      const d = Math.hypot(dx, dy) * v.scale;
      const r = Math.max(nodes.radius[i] * v.scale, 1.25) + slackPx;
      if (d <= r && d < bestD) {
        best = i;
        bestD = d;
      }
    }
    return best;
  }

  /** Draws again if the viewport's size changed since the last frame. */
  resized(): void {
    const { w, h } = this.size();
    if (`${w}x${h}` !== this.drawnSize) this.requestRender();
  }

  /** Draws the graph again on the next frame (data changed, or the camera came to rest). */
  requestRender(): void {
    this.needsDraw = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.frame !== 0) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      if (this.needsDraw || this.drawnCamera === null) this.render();
      else this.transformDrawn();
      for (const l of this.frameListeners) l();
    });
  }

  /** Moves and scales the drawn frame so that it shows the current camera. */
  private transformDrawn(): void {
    const drawn = this.drawnCamera!;
    const now = this.view();
    const then = this.view(drawn);
    const k = now.scale / then.scale;
    const tx = (then.cx - now.cx) * now.scale;
    const ty = -(then.cy - now.cy) * now.scale;
    this.canvas.style.transform = `translate(${tx}px, ${ty}px) scale(${k})`;
  }

  private render(): void {
    this.needsDraw = false;
    this.drawnCamera = this.getCamera();
    this.canvas.style.transform = '';
    const gl = this.gl;
    const dpr = window.devicePixelRatio || 1;
    const { w: vw, h: vh } = this.size();
    this.drawnSize = `${vw}x${vh}`;
    const w = vw * (1 + 2 * this.overscan);
    const h = vh * (1 + 2 * this.overscan);
    const pw = Math.round(w * dpr);
    const ph = Math.round(h * dpr);
    if (this.canvas.width !== pw || this.canvas.height !== ph) {
      this.canvas.width = pw;
      this.canvas.height = ph;
    }
    gl.viewport(0, 0, pw, ph);
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    const v = this.view();
    if (this.nEdges > 0) {
      this.activate(this.edgeProgram);
      gl.uniform3f(gl.getUniformLocation(this.edgeProgram, 'u_view'), v.cx, v.cy, v.scale);
      gl.uniform2f(gl.getUniformLocation(this.edgeProgram, 'u_size'), w, h);
      gl.bindVertexArray(this.edgeVao);
      gl.drawElements(gl.TRIANGLES, 6 * this.nEdges, gl.UNSIGNED_INT, 0);
    }
    if (this.nodes && this.nodes.x.length > 0) {
      this.activate(this.nodeProgram);
      gl.uniform3f(gl.getUniformLocation(this.nodeProgram, 'u_view'), v.cx, v.cy, v.scale);
      gl.uniform2f(gl.getUniformLocation(this.nodeProgram, 'u_size'), w, h);
      gl.uniform1f(gl.getUniformLocation(this.nodeProgram, 'u_dpr'), dpr);
      gl.bindVertexArray(this.nodeVao);
      gl.drawArrays(gl.POINTS, 0, this.nodes.x.length);
    }
    gl.bindVertexArray(null);
  }

  private activate(program: WebGLProgram): void {
    // biome-ignore lint/correctness/useHookAtTopLevel: WebGL's useProgram, not a React hook
    this.gl.useProgram(program);
  }

  /** Frees the GPU objects and removes the canvas. */
  destroy(): void {
    if (this.frame !== 0) cancelAnimationFrame(this.frame);
    clearTimeout(this.settle);
    const gl = this.gl;
    for (const b of Object.values(this.buffers)) gl.deleteBuffer(b);
    gl.deleteVertexArray(this.edgeVao);
    gl.deleteVertexArray(this.nodeVao);
    gl.deleteProgram(this.edgeProgram);
    gl.deleteProgram(this.nodeProgram);
    this.frameListeners.clear();
    this.cameraListeners.clear();
    this.canvas.remove();
  }
}
