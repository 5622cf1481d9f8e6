import type { CommandModule } from 'yargs';
import { infoCommand } from './info.js';
import { gradcheckCommand } from './gradcheck.js';
import { knowledgeCommand } from './knowledge.js';
import { dataCommand } from './data.js';
import { evalCommand } from './eval.js';
import { trainCommand } from './train.js';
import { modelCommand } from './model.js';
import { predictCommand } from './predict.js';

/** Every `tak-wgpu` sub-command, in the order `--help` lists them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [trainCommand, predictCommand, infoCommand, gradcheckCommand, modelCommand, knowledgeCommand, dataCommand, evalCommand];
