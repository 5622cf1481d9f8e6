// Imports every op family so the registry is complete (the gradcheck CLI and tests iterate it).
// Families register themselves when their module loads; add new op modules here.
import './elementwise.js';
import './reduce.js';
import './shape.js';
import './gather.js';
import './cubes.js';
import './softmax.js';
import './losses.js';
import './contrastive.js';
import './dynamic-head.js';
import './linear.js';
import './matmul.js';
import './conv.js';
import './conv-transpose.js';
import './norm.js';
import './pool.js';
import './resize.js';
