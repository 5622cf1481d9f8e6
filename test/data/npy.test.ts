import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy, readNpy, writeNpy } from '../../src/data/npy.js';
import { nibabelMissingReason } from './nibabel.js';

describe('.npy files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tak-npy-'));

  it('round-trips every supported typed array', () => {
    for (const data of [new Uint8Array([1, 2, 250]), new Int8Array([-3, 0, 5]), new Int16Array([-1024, 3, 3000]), new Float32Array([0.5, -1.25, 3]), new Float64Array([1e-300, 2, -7])]) {
      const back = decodeNpy(encodeNpy([3], data), 'mem');
      expect(back.shape).toEqual([3]);
      expect(back.data.constructor).toBe(data.constructor);
      expect(Array.from(back.data)).toEqual(Array.from(data));
    }
  });

  // numpy (Debian's, with nibabel) writes the reference files: C and Fortran order, big endian, int64.
  it.skipIf(nibabelMissingReason)('reads files written by numpy (C/Fortran order, big endian, int64, v2 header)', () => {
    const script = `
import numpy as np, sys
d = sys.argv[1]
a = np.arange(24, dtype='<f4').reshape(2, 3, 4) * 0.5
np.save(d + '/c.npy', a)
np.save(d + '/f.npy', np.asfortranarray(a))
np.save(d + '/be.npy', a.astype('>i2'))
np.save(d + '/i8.npy', a.astype('<i8'))
np.lib.format.write_array(open(d + '/v2.npy', 'wb'), a, version=(2, 0))`;
    execFileSync('/usr/bin/python3', ['-c', script, dir]);
    const c = readNpy(join(dir, 'c.npy'));
    expect(c.shape).toEqual([2, 3, 4]);
    expect(c.fortranOrder).toBe(false);
    expect(Array.from(c.data)).toEqual(Array.from({ length: 24 }, (_, i) => i * 0.5));
    const f = readNpy(join(dir, 'f.npy'));
    expect(f.fortranOrder).toBe(true);
    expect(f.data[1]).toBe(6); // a[1,0,0] comes second in Fortran order
    expect(Array.from(readNpy(join(dir, 'be.npy')).data).slice(0, 5)).toEqual([0, 0, 1, 1, 2]);
    expect(readNpy(join(dir, 'i8.npy')).data[23]).toBe(11);
    expect(readNpy(join(dir, 'v2.npy')).data[23]).toBe(11.5);
  });

  it.skipIf(nibabelMissingReason)('writes files numpy reads', () => {
    writeNpy(join(dir, 'ours.npy'), [2, 3], new Int16Array([1, 2, 3, -4, 5, 6]));
    const out = execFileSync('/usr/bin/python3', ['-c', `import numpy as np; a = np.load('${join(dir, 'ours.npy')}'); print(a.dtype, a.shape, a[1, 0])`], { encoding: 'utf8' });
    expect(out.trim()).toBe('int16 (2, 3) -4');
  });

  it('names bad files', () => {
    expect(() => decodeNpy(new Uint8Array(20), 'x.npy')).toThrow(/x\.npy is not a NumPy \.npy file/);
    const good = encodeNpy([4], new Float32Array(4));
    expect(() => decodeNpy(good.slice(0, good.length - 3), 'cut.npy')).toThrow(/cut\.npy is truncated/);
    const complex = encodeNpy([4], new Float32Array(4));
    const at = new TextDecoder('latin1').decode(complex).indexOf('<f4');
    complex.set(new TextEncoder().encode('<c8'), at);
    expect(() => decodeNpy(complex, 'c.npy')).toThrow(/dtype "<c8" is not supported/);
  });
});
