import { zipSync } from 'fflate';

/**
 * Writes torch.save-format archives the way PyTorch ≥ 1.6 does (protocol-2 pickle calling
 * torch._utils._rebuild_tensor_v2 with a persistent storage id, raw storage bytes beside it),
 * independently of the reader under test. Opcodes: Python's Lib/pickle.py.
 */
class PickleWriter {
  private readonly bytes: number[] = [];
  op(code: number): this {
    this.bytes.push(code);
    return this;
  }
  global(module: string, name: string): this {
    return this.op(0x63).text(`${module}\n${name}\n`); // GLOBAL
  }
  unicode(value: string): this {
    const utf8 = new TextEncoder().encode(value);
    this.op(0x58).u32(utf8.length); // BINUNICODE
    this.bytes.push(...utf8);
    return this;
  }
  int(value: number): this {
    this.op(0x4a); // BININT, signed 32-bit little-endian
    const b = Buffer.alloc(4);
    b.writeInt32LE(value);
    this.bytes.push(...b);
    return this;
  }
  tuple(values: number[]): this {
    this.op(0x28); // MARK
    for (const v of values) this.int(v);
    return this.op(0x74); // TUPLE
  }
  finish(): Uint8Array {
    return Uint8Array.from([...this.bytes, 0x2e]); // STOP
  }
  private u32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value);
    this.bytes.push(...b);
    return this;
  }
  private text(value: string): this {
    this.bytes.push(...new TextEncoder().encode(value));
    return this;
  }
}

export interface TorchSaveOptions {
  storageClass?: string;
  /** Storage bytes (may hold more elements than the tensor). */
  storage: Uint8Array;
  storageNumel: number;
  offset?: number;
  size: number[];
  stride?: number[];
  archiveName?: string;
  byteOrder?: string;
}

const contiguousStride = (size: number[]): number[] => size.map((_, i) => size.slice(i + 1).reduce((a, b) => a * b, 1));

export function torchSaveArchive(options: TorchSaveOptions): Uint8Array {
  const name = options.archiveName ?? 'archive';
  const pickle = new PickleWriter()
    .op(0x80).op(2) // PROTO 2
    .global('torch._utils', '_rebuild_tensor_v2')
    .op(0x28) // MARK (argument tuple)
    .op(0x28).unicode('storage').global('torch', options.storageClass ?? 'FloatStorage').unicode('0').unicode('cpu').int(options.storageNumel).op(0x74)
    .op(0x51) // BINPERSID
    .int(options.offset ?? 0)
    .tuple(options.size)
    .tuple(options.stride ?? contiguousStride(options.size))
    .op(0x89) // NEWFALSE: requires_grad
    .global('collections', 'OrderedDict').op(0x29).op(0x52) // OrderedDict()
    .op(0x74) // TUPLE
    .op(0x52) // REDUCE
    .finish();
  return zipSync(
    {
      [`${name}/data.pkl`]: [pickle, { level: 0 }],
      [`${name}/byteorder`]: [new TextEncoder().encode(options.byteOrder ?? 'little'), { level: 0 }],
      [`${name}/data/0`]: [options.storage, { level: 0 }],
      [`${name}/version`]: [new TextEncoder().encode('3\n'), { level: 0 }],
    },
  );
}

/** A float32 [rows, cols] archive whose values are `value(i, j)`. */
export function float32Archive(rows: number, cols: number, value: (i: number, j: number) => number): { archive: Uint8Array; data: Float32Array } {
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) data[i * cols + j] = value(i, j);
  const archive = torchSaveArchive({ storage: new Uint8Array(data.buffer), storageNumel: data.length, size: [rows, cols] });
  return { archive, data };
}
