import type { Rng } from '../../util/random.js';
import type { Vec3 } from '../volume.js';
import type { Canvas } from './canvas.js';
import type { Shape, TubePoint } from './shapes.js';
import { ellipsoid, ellipticCylinder, halfSpace, rotation, tube } from './shapes.js';
import { tissueId as T } from './tissues.js';

/**
 * The phantom's abdomen, painted in world mm (RAS+: x → patient's right, y → anterior, z →
 * superior; z = 0 near L2). Positions follow standard cross-sectional anatomy: liver in the right
 * upper quadrant under the right diaphragm dome, spleen left posterolateral, kidneys beside the
 * spine with the right one lower, adrenals superomedial to them, aorta left-anterior of the spine
 * with the IVC on its right, pancreas anterior to both with its head in the duodenal C-loop,
 * stomach left upper and anterior, gallbladder under the liver, oesophagus joining the stomach,
 * bladder and prostate/uterus in the pelvis. Every case varies size, position, fill and shape.
 */
export interface CaseParameters {
  /** overall body/organ scale */
  scale: number;
  bodyHalfWidth: number;
  bodyHalfDepth: number;
  subcutaneousFat: number;
  muscleWall: number;
  /** how much lower the right kidney sits than the left (mm) */
  kidneyDrop: number;
  liverSize: number;
  spleenSize: number;
  stomachFill: number;
  /** y above which stomach gas collects (supine: gas rises anteriorly) */
  stomachGasLevel: number;
  gallbladderSize: number;
  bladderFill: number;
  female: boolean;
  /** per-organ position offsets (mm) and size factors */
  offsets: Record<string, Vec3>;
  sizes: Record<string, number>;
}

const JITTERED = ['liver', 'spleen', 'rk', 'lk', 'radrenal', 'ladrenal', 'pancreas', 'duodenum', 'stomach', 'gallbladder', 'bladder', 'pelvic', 'colon'];

export function drawCaseParameters(rng: Rng): CaseParameters {
  const u = (a: number, b: number): number => a + (b - a) * rng.uniform();
  const offsets: Record<string, Vec3> = {};
  const sizes: Record<string, number> = {};
  for (const name of JITTERED) {
    offsets[name] = [rng.normal() * 5, rng.normal() * 5, rng.normal() * 6];
    sizes[name] = u(0.9, 1.1);
  }
  return {
    scale: u(0.92, 1.08),
    bodyHalfWidth: u(140, 172),
    bodyHalfDepth: u(100, 128),
    subcutaneousFat: u(8, 32),
    muscleWall: u(8, 14),
    kidneyDrop: u(8, 25),
    liverSize: u(0.88, 1.12),
    spleenSize: u(0.82, 1.18),
    stomachFill: u(0.72, 1.05),
    stomachGasLevel: u(45, 70),
    gallbladderSize: u(0.8, 1.2),
    bladderFill: u(0.65, 1.25),
    female: rng.uniform() < 0.5,
    offsets,
    sizes,
  };
}

/** Tissues organs may paint over: the soft contents of the abdominal cavity. */
const SOFT = [T['visceral fat'], T.bowel, T['bowel gas'], T.colon];

/** Fields the painter needs besides the shapes: bowel loop noise, gas noise. */
export interface AnatomyFields {
  bowel: Float32Array;
  bowelGas: Float32Array;
  colonGas: Float32Array;
}

export function paintAnatomy(canvas: Canvas, p: CaseParameters, fields: AnatomyFields): void {
  const s = p.scale;
  // A point of the standard anatomy, scaled to this body and shifted by the organ's jitter.
  const at = (organ: string | null, x: number, y: number, z: number): Vec3 => {
    const o = organ ? p.offsets[organ]! : [0, 0, 0];
    return [s * x + o[0]!, s * y + o[1]!, s * z + o[2]!];
  };
  const path = (organ: string | null, size: number, points: TubePoint[]): TubePoint[] =>
    points.map(([x, y, z, r]) => [...at(organ, x, y, z), s * r * size] as TubePoint);
  const radii = (organ: string | null, size: number, r: Vec3): Vec3 => r.map((v) => s * v * size * (organ ? p.sizes[organ]! : 1)) as Vec3;

  paintBody(canvas, p);
  paintSkeleton(canvas, p);
  paintThorax(canvas, p, at);
  paintBowel(canvas, p, fields, path);

  // Retroperitoneum first: later organs wrap around it (the liver keeps the renal impression).
  for (const side of [1, -1] as const) paintKidney(canvas, p, side, at, radii);
  const adrenal = (name: string, apex: Vec3, medial: Vec3, lateral: Vec3): Shape =>
    tube([...path(name, p.sizes[name]!, [[...medial, 4.2], [...apex, 4.6], [...lateral, 4.2]])], 0.65);
  canvas.paint(adrenal('radrenal', [38, -28, 80], [31, -34, 58], [50, -44, 62]), T['right adrenal'], SOFT, 0.15);
  canvas.paint(adrenal('ladrenal', [-33, -22, 72], [-28, -27, 50], [-44, -34, 54]), T['left adrenal'], SOFT, 0.15);

  const aorta = tube(path(null, 1, [[-26, -42, 215, 12], [-21, -32, 130, 12], [-14, -19, 60, 11.5], [-12, -15, 0, 11], [-9, -16, -60, 10], [-5, -19, -86, 9]]));
  canvas.paint(aorta, T.aorta, [...SOFT, T.lung], 0.03);
  for (const side of [1, -1]) {
    canvas.paint(tube(path(null, 1, [[-5, -19, -84, 7.5], [35 * side, -20, -130, 6.5], [55 * side, -8, -180, 6], [62 * side, 0, -220, 6]])), T['other vessel'], SOFT);
    canvas.paint(tube(path(null, 1, [[22, -14, -92, 9], [32 * side, -26, -130, 7.5], [50 * side, -18, -180, 7], [58 * side, -10, -220, 7]])), T['other vessel'], SOFT);
  }
  // renal arteries and veins: the left renal vein crosses in front of the aorta into the IVC
  canvas.paint(tube(path(null, 1, [[-12, -14, 18, 3.5], [-45, -35, 22 + p.offsets.lk![2]! / s, 3]])), T['other vessel'], SOFT);
  canvas.paint(tube(path(null, 1, [[-12, -14, 14, 3.5], [45, -38, 4 + p.offsets.rk![2]! / s - p.kidneyDrop, 3]])), T['other vessel'], SOFT);
  canvas.paint(tube(path(null, 1, [[-46, -34, 24 + p.offsets.lk![2]! / s, 5], [-15, -1, 26, 5], [20, -10, 24, 5.5]]), 0.7), T['other vessel'], SOFT);

  const pancreas = tube(path('pancreas', p.sizes.pancreas!, [[38, 6, -26, 14], [35, 10, -3, 17.5], [15, 18, 8, 12], [-10, 15, 14, 12], [-35, 5, 22, 11], [-58, -10, 32, 10], [-72, -24, 42, 8]]), 0.7);
  canvas.paint(pancreas, T.pancreas, SOFT, 0.3);
  // portal venous system: SMV + splenic vein meet behind the pancreatic neck
  canvas.paint(tube(path(null, 1, [[10, 12, 5, 5], [-20, 2, 15, 5], [-50, -15, 30, 4.5], [-74, -31, 46, 4.5]])), T['splenic vein'], [...SOFT, T.pancreas]);
  canvas.paint(tube(path(null, 1, [[8, 22, -70, 5], [10, 17, -25, 5.5], [10, 13, 4, 6]])), T['other vessel'], [...SOFT, T.pancreas]); // SMV
  canvas.paint(tube(path(null, 1, [[-12, -5, 22, 4], [-8, 14, 6, 4], [-5, 22, -60, 3.5]])), T['other vessel'], [...SOFT, T.pancreas]); // SMA

  const duodenumPath = path('duodenum', p.sizes.duodenum!, [
    [38, 32, 22, 7.5], [55, 18, 25, 8], [62, 6, 12, 8], [62, 4, -10, 8], [58, 4, -36, 8], [40, 2, -49, 7.5],
    [10, 0, -53, 7.5], [-15, 2, -48, 7.5], [-28, 5, -30, 7], [-32, 10, -8, 7], [-38, 20, -4, 6.5],
  ]);
  canvas.paint(tube(duodenumPath), T['duodenum wall'], SOFT, 0.2);
  canvas.paint(tube(shrink(duodenumPath, 2.5)), T['duodenum contents'], [T['duodenum wall']], 0.1);

  const esophagus = path(null, 1, [[-2, -24, 215, 8], [-5, -18, 160, 8], [-12, -10, 135, 8], [-22, -3, 118, 8.5], [-33, 2, 109, 9]]);
  canvas.paint(tube(esophagus, 0.7), T.esophagus, [...SOFT, T.lung], 0.05);
  canvas.paint(tube(shrink(esophagus, 5.5), 0.7), T['esophageal lumen'], [T.esophagus]);

  const f = p.stomachFill * p.sizes.stomach!;
  const stomachPath = path('stomach', f, [
    [-33, 2, 109, 13], [-46, -5, 118, 22], [-62, -12, 126, 27], [-70, 14, 96, 29], [-60, 38, 62, 27],
    [-40, 56, 36, 23], [-10, 62, 22, 18], [18, 54, 22, 14], [35, 35, 22, 8],
  ]);
  canvas.paint(tube(stomachPath), T['stomach wall'], SOFT, 0.2);
  const lumen = tube(shrink(stomachPath, 4));
  canvas.paint(lumen, T['stomach contents'], [T['stomach wall']], 0.1);
  canvas.paint(halfSpace(lumen, [0, 1, 0], s * p.stomachGasLevel), T['stomach gas'], [T['stomach contents']]);

  const spleen = ellipsoid(at('spleen', -80, -36, 86), radii('spleen', p.spleenSize, [26, 58, 45]), rotation(0.25, 0, 0.6));
  canvas.paint(spleen, T.spleen, SOFT, 0.35);

  const liverSize = p.liverSize * p.sizes.liver!;
  const rightLobe = ellipsoid(at('liver', 68, 2, 88), radii(null, liverSize, [67, 77, 76]), rotation(0, 0.15, 0));
  const leftLobe = ellipsoid(at('liver', -12, 40, 102), radii(null, liverSize, [64, 33, 36]), rotation(0, -0.2, -0.25));
  canvas.paint(rightLobe, T.liver, SOFT, 0.3);
  canvas.paint(leftLobe, T.liver, SOFT, 0.3);

  const ivc = tube(path(null, 1, [[22, -14, -92, 10], [22, -11, -30, 11.5], [22, -9, 30, 12.5], [18, -6, 95, 13], [13, -2, 148, 13], [9, 3, 172, 12]]), 0.8);
  canvas.paint(ivc, T.ivc, [...SOFT, T.liver, T.lung], 0.03);
  canvas.paint(tube(path(null, 1, [[10, 13, 4, 7], [25, 10, 30, 7], [45, 6, 55, 6.5], [62, 6, 66, 5]])), T['portal vein'], [...SOFT, T.liver, T.pancreas]);
  for (const branch of [
    [[110, -12, 88, 3], [60, -6, 118, 5], [15, -1, 142, 7]],
    [[60, 42, 70, 3], [40, 20, 110, 4.5], [15, 0, 142, 6]],
    [[-40, 45, 108, 2.5], [-5, 25, 125, 4], [10, 2, 144, 5]],
    [[62, 6, 66, 4.5], [100, 2, 72, 3.5], [125, -5, 75, 2]],
    [[62, 6, 66, 4], [20, 30, 84, 3.5], [-20, 45, 95, 2.5]],
  ] as TubePoint[][]) {
    canvas.paint(tube(path('liver', 1, branch)), T['hepatic vein'], [T.liver], 0.05);
  }
  const g = p.gallbladderSize * p.sizes.gallbladder!;
  canvas.paint(ellipsoid(at('gallbladder', 48, 40, 18), radii(null, g, [14, 14, 34]), rotation(0.6, 0.2, 0)), T.gallbladder, [...SOFT, T.liver], 0.1);

  paintPelvis(canvas, p, at, radii);
}

/** A tube path with every radius reduced by `by` mm (the lumen inside a wall). */
function shrink(points: TubePoint[], by: number): TubePoint[] {
  return points.map(([x, y, z, r]) => [x, y, z, Math.max(1, r - by)]);
}

type At = (organ: string | null, x: number, y: number, z: number) => Vec3;
type Radii = (organ: string | null, size: number, r: Vec3) => Vec3;

function bodyRadii(p: CaseParameters, z: number, inset: number): [number, number] {
  // The pelvis is wider and flatter than the upper abdomen; the lower chest a little deeper.
  const pelvis = smoothstep(-90, -180, z);
  const chest = smoothstep(110, 200, z);
  const rx = p.scale * p.bodyHalfWidth * (1 + 0.08 * pelvis - 0.04 * chest) - inset;
  const ry = p.scale * p.bodyHalfDepth * (1 - 0.08 * pelvis + 0.05 * chest) - inset;
  return [rx, ry];
}

function paintBody(canvas: Canvas, p: CaseParameters): void {
  const body = (inset: number): Shape => ellipticCylinder(() => [0, 0], (z) => bodyRadii(p, z, inset), [-400, 400], 260);
  canvas.paint(body(0), T.fat, [T.air], 0.03);
  canvas.paint(body(p.subcutaneousFat), T.muscle, [T.fat], 0.04);
  canvas.paint(body(p.subcutaneousFat + p.muscleWall), T['visceral fat'], [T.muscle], 0.04);
}

/** y of the front of the vertebral bodies' centre line: lumbar lordosis, sacrum tilting back. */
function spineY(z: number): number {
  return -45 + 6 * Math.cos((z + 30) / 110) - Math.max(0, -140 - z) * 0.7;
}

function paintSkeleton(canvas: Canvas, p: CaseParameters): void {
  const s = p.scale;
  const any = [T.fat, T.muscle, T['visceral fat']];
  const [, ryBack] = bodyRadii(p, 0, p.subcutaneousFat);
  // paraspinal muscles along the whole spine, psoas from L1 down into the pelvis
  for (const side of [1, -1]) {
    canvas.paint(ellipticCylinder(() => [side * 32 * s, -ryBack + 26 * s], () => [23 * s, 20 * s], [-400, 400], 260), T.muscle, any, 0.1);
    canvas.paint(tube([[side * 24 * s, -40 * s, 55 * s, 5], [side * 38 * s, -32 * s, -40 * s, 20 * s], [side * 52 * s, -10 * s, -150 * s, 18 * s], [side * 60 * s, 0, -230 * s, 16 * s]]), T.muscle, any, 0.1);
  }
  // vertebrae: 30 mm bodies, 8 mm discs
  const pitch = 38 * s;
  for (let level = -6; level <= 6; level++) {
    const zc = level * pitch;
    const y = s * spineY(zc / s);
    const body = ellipticCylinder(() => [0, y], () => [21 * s, 17 * s], [zc - 15 * s, zc + 15 * s], 260);
    canvas.paint(body, T.bone, [...any, T.disc]);
    canvas.paint(ellipticCylinder(() => [0, y], () => [18 * s, 14 * s], [zc - 13 * s, zc + 13 * s], 260), T['cancellous bone'], [T.bone]);
    canvas.paint(ellipticCylinder(() => [0, y], () => [20 * s, 16 * s], [zc + 15 * s, zc + pitch - 15 * s], 260), T.disc, any);
    // neural arch and spinous process
    canvas.paint(ellipticCylinder(() => [0, y - 31 * s], () => [17 * s, 15 * s], [zc - 12 * s, zc + 12 * s], 260), T.bone, any);
    canvas.paint(ellipsoid([0, y - 56 * s, zc - 6 * s], [5 * s, 16 * s, 11 * s]), T.bone, any);
    for (const side of [1, -1]) canvas.paint(ellipsoid([side * 30 * s, y - 25 * s, zc], [18 * s, 6 * s, 6 * s]), T.bone, any);
  }
  canvas.paint(ellipticCylinder((z) => [0, s * spineY(z / s) - 31 * s], () => [10 * s, 9 * s], [-400, 400], 260), T['spinal canal'], [T.bone, T.disc, ...any]);
  // ribs: oblique hoops in the muscle wall above the lower costal margin, sloping down anteriorly
  for (let k = 0; k < 7; k++) {
    const zBack = (40 + 32 * k) * s;
    canvas.paint(rib(p, zBack), T.bone, any);
  }
  // pelvis: iliac wings and femoral heads
  for (const side of [1, -1]) {
    const wingAt: Vec3 = [side * 90 * s, -35 * s, -125 * s];
    const wingTurn = rotation(0, side * 0.35, side * 0.55);
    canvas.paint(ellipsoid(wingAt, [10 * s, 58 * s, 48 * s], wingTurn), T.bone, any);
    canvas.paint(ellipsoid(wingAt, [6 * s, 54 * s, 44 * s], wingTurn), T['cancellous bone'], [T.bone]);
    canvas.paint(ellipsoid([side * 88 * s, -8 * s, -205 * s], [25 * s, 25 * s, 25 * s]), T.bone, any);
  }
}

function rib(p: CaseParameters, zBack: number): Shape {
  const [rx, ry] = bodyRadii(p, zBack, p.subcutaneousFat + p.muscleWall * 0.5);
  const thickness = 5 * p.scale;
  return {
    min: [-rx - 10, -ry - 10, zBack - 90],
    max: [rx + 10, ry + 10, zBack + 10],
    level(x, y, z) {
      if (y > ry * 0.55) return Infinity; // costal cartilage gap anteriorly
      const rho = Math.sqrt((x / rx) ** 2 + (y / ry) ** 2);
      const radial = (rho - 1) * Math.min(rx, ry);
      const zRib = zBack - 0.28 * (y + ry); // lower towards the front
      const dz = z - zRib;
      return (radial * radial + dz * dz) / (thickness * thickness);
    },
  };
}

/** Diaphragm height at (x, y): two domes, right higher, falling away posteriorly into the recesses. */
function diaphragm(p: CaseParameters, x: number, y: number): number {
  const s = p.scale;
  const back = (yy: number): number => (yy < 0 ? 0.9 : 0.4) * yy * yy;
  const right = 150 * s - ((x - 60 * s) ** 2 + back(y)) / (120 * s);
  const left = 138 * s - ((x + 60 * s) ** 2 + back(y + 5 * s)) / (120 * s);
  return Math.max(right, left);
}

function paintThorax(canvas: Canvas, p: CaseParameters, at: At): void {
  const s = p.scale;
  const lungs: Shape = {
    min: [-260, -260, 0],
    max: [260, 260, 400],
    level(x, y, z) {
      if (z < diaphragm(p, x, y)) return Infinity;
      if (Math.abs(x + 8 * s) < 30 * s && y > -65 * s) return Infinity; // mediastinum
      return 0;
    },
  };
  canvas.paint(lungs, T.lung, [T['visceral fat']]);
  canvas.paint(ellipsoid(at(null, -15, 38, 235), [70 * s, 58 * s, 75 * s]), T.heart, [T['visceral fat'], T.lung], 0.05);
}

function paintBowel(canvas: Canvas, p: CaseParameters, fields: AnatomyFields, path: (o: string | null, size: number, pts: TubePoint[]) => TubePoint[]): void {
  const { wx, wy, wz } = canvas;
  const s = p.scale;
  // Small bowel loops fill the intraperitoneal space below the upper-abdominal organs.
  canvas.paintWhere(
    (i) => wz[i]! < diaphragm(p, wx[i]!, wy[i]!) - 40 * s && wy[i]! > -30 * s + Math.max(0, wz[i]!) * 0.2 && fields.bowel[i]! > -0.05,
    T.bowel,
    [T['visceral fat']],
  );
  canvas.paintWhere((i) => fields.bowelGas[i]! > 0.6, T['bowel gas'], [T.bowel]);
  const colon = path('colon', 1, [
    [75, 10, -110, 24], [88, 0, -40, 22], [80, 20, 15, 21], [40, 68, -2, 19], [-20, 72, -8, 19], [-68, 40, 30, 19],
    [-88, 5, 55, 19], [-92, -5, -20, 17], [-85, 0, -100, 17], [-40, 25, -128, 17], [-5, -12, -142, 16], [0, -55, -172, 18], [0, -62, -225, 15],
  ]);
  canvas.paint(tube(colon), T.colon, [T['visceral fat'], T.bowel, T['bowel gas']], 0.2);
  canvas.paintWhere((i) => fields.colonGas[i]! > 0.25, T['bowel gas'], [T.colon]);
}

function paintKidney(canvas: Canvas, p: CaseParameters, side: 1 | -1, at: At, radii: Radii): void {
  const right = side === 1;
  const key = right ? 'rk' : 'lk';
  const centre = at(key, 68 * side, -47, right ? 22 - p.kidneyDrop / p.scale : 22);
  // long axis tilted: upper pole medial and posterior; hilum turned anteromedially
  const turn = rotation(-0.3, side * -0.25, side * 0.5);
  const r = radii(key, 1, [27, 23, 55]);
  const cortex = right ? T['right kidney cortex'] : T['left kidney cortex'];
  const medulla = right ? T['right kidney medulla'] : T['left kidney medulla'];
  canvas.paint(ellipsoid(centre, r, turn), cortex, SOFT, 0.12);
  canvas.paint(ellipsoid(centre, [r[0] * 0.62, r[1] * 0.62, r[2] * 0.75], turn), medulla, [cortex], 0.1);
  // renal sinus: fat opening to the medial side, carved out of both layers
  const hilum: Vec3 = [centre[0] - side * r[0] * 0.55 * Math.cos(0.5), centre[1] + r[0] * 0.55 * Math.sin(0.5), centre[2]];
  canvas.paint(ellipsoid(hilum, [r[0] * 0.5, r[1] * 0.42, r[2] * 0.38], turn), T['renal sinus fat'], [cortex, medulla, ...SOFT], 0.1);
}

function paintPelvis(canvas: Canvas, p: CaseParameters, at: At, radii: Radii): void {
  const fill = p.bladderFill * p.sizes.bladder!;
  const r = radii(null, fill, [42, 33, 30]);
  // a fuller bladder rises out of the pelvis: its floor stays, its dome goes up
  const bladder = ellipsoid(at('bladder', 0, 40, -178 + 30 * fill), r, rotation(0.15, 0, 0));
  canvas.paint(bladder, T.bladder, SOFT, 0.15);
  if (p.female) {
    canvas.paint(ellipsoid(at('pelvic', 0, 4, -128 + 12 * fill), radii('pelvic', 1, [30, 20, 36]), rotation(-0.6, 0, 0)), T.uterus, SOFT, 0.2);
  } else {
    canvas.paint(ellipsoid(at('pelvic', 0, 26, -194), radii('pelvic', 1, [19, 15, 16])), T.prostate, [...SOFT, T.bladder], 0.15);
  }
}

function smoothstep(from: number, to: number, v: number): number {
  const t = Math.min(1, Math.max(0, (v - from) / (to - from)));
  return t * t * (3 - 2 * t);
}
