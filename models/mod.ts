/**
 * Networks and losses: the DCGAN generator and discriminator, the CycleGAN's generators and
 * discriminators, shared layers and least-squares losses, as plain functions over tfjs tensors;
 * and the sliced Wasserstein distance that scores generated images against real ones.
 *
 * @example
 * ```ts
 * import { buildGenerator, generate } from "./mod.ts";
 * const g = buildGenerator({ convDim: 32, seed: 11 });
 * ```
 *
 * @module
 */
export * from "./layers.ts";
export * from "./losses.ts";
export * from "./adam.ts";
export * from "./dcgan.ts";
export * from "./cyclegan.ts";
export * from "./ddpm.ts";
export * from "./swd.ts";
