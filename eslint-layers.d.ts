import type { Linter } from 'eslint';

/** The layer-order rules of eslint-layers.js (one config object per src/ folder). */
export declare const layerRules: Linter.Config[];
