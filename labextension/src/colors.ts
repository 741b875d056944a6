/**
 * One stable colour per step name, shared by the pipeline DAG and the
 * notebook's cell badges (the same step has the same colour everywhere).
 */

/** How many step colours the theme defines (`--jp-mlops-step-color-N`). */
export const STEP_COLOR_COUNT = 10;

/** The palette slot of a step: a hash of its name (FNV-1a), stable across sessions. */
export function stepColorIndex(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % STEP_COLOR_COUNT;
}

/** The CSS colour of a step (a theme variable, so dark themes get their own shades). */
export function stepColor(name: string): string {
  return `var(--jp-mlops-step-color-${stepColorIndex(name)})`;
}
