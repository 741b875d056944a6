/**
 * The cell tag vocabulary of the compiler (jupyter_mlops/compiler/tags.py),
 * read for display and written by the role editor. The compiler stays the
 * judge: what it says about a cell is shown next to the badge.
 */

/** A step name (`STEP_NAME` in compiler/tags.py). */
export const STEP_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

/** Role tags and their role (`ROLE_TAGS`; Kale spellings included). */
export const ROLE_TAGS: { [tag: string]: CellRole } = {
  parameters: 'parameters',
  'pipeline-parameters': 'parameters',
  imports: 'setup',
  functions: 'setup',
  setup: 'setup',
  skip: 'skip',
  'pipeline-metrics': 'metrics',
  metrics: 'metrics'
};

/** Tag prefixes (`PREFIXES`): `block:` is Kale's `step:`, `after:` is `prev:`. */
const PREFIXES: { [prefix: string]: string } = {
  step: 'step',
  block: 'step',
  prev: 'prev',
  after: 'prev',
  model: 'model',
  example: 'example',
  cache: 'cache',
  secret: 'secret',
  reads: 'reads'
};

/** Prefixes that only apply to a step's cells. */
const STEP_MODIFIERS = ['prev', 'model', 'example', 'cache', 'reads'];

export type CellRole = 'parameters' | 'setup' | 'skip' | 'metrics' | 'step';

/** What a cell's tags say (problems are the compiler's to report). */
export interface IParsedTags {
  role: CellRole | null;
  /** The tag giving the role, as written (e.g. `imports`, `block:load`). */
  roleTag: string | null;
  step: string | null;
  prev: string[];
  model: string | null;
  example: string | null;
  cacheOff: boolean;
}

function kindOf(tag: string): string | null {
  if (tag in ROLE_TAGS) {
    return 'role';
  }
  const colon = tag.indexOf(':');
  return colon > 0 ? (PREFIXES[tag.slice(0, colon)] ?? null) : null;
}

function valueOf(tag: string): string {
  return tag.slice(tag.indexOf(':') + 1).trim();
}

/** Read a code cell's tags (first role wins, as the compiler reports conflicts). */
export function parseTags(tags: readonly string[]): IParsedTags {
  const parsed: IParsedTags = {
    role: null,
    roleTag: null,
    step: null,
    prev: [],
    model: null,
    example: null,
    cacheOff: false
  };
  for (const tag of tags) {
    const kind = kindOf(tag);
    if (kind === 'role' && parsed.role === null) {
      parsed.role = ROLE_TAGS[tag];
      parsed.roleTag = tag;
    } else if (kind === 'step' && parsed.role === null) {
      parsed.role = 'step';
      parsed.roleTag = tag;
      parsed.step = valueOf(tag);
    } else if (kind === 'prev') {
      parsed.prev.push(valueOf(tag));
    } else if (kind === 'model') {
      parsed.model = valueOf(tag);
    } else if (kind === 'example') {
      parsed.example = valueOf(tag);
    } else if (kind === 'cache' && valueOf(tag) === 'disabled') {
      parsed.cacheOff = true;
    }
  }
  return parsed;
}

/** A role the editor sets. */
export type RoleAction =
  | { role: 'step'; name: string }
  | { role: 'continue' }
  | { role: 'setup' | 'parameters' | 'skip' | 'metrics' }
  | { role: 'model'; variable: string }
  | { role: 'example'; expression: string }
  | { role: 'cache'; off: boolean };

/**
 * The tags of a cell after setting a role: the cell's other roles and (for
 * non-step roles) its step modifiers go, unrelated tags stay in place.
 */
export function applyRole(
  tags: readonly string[],
  action: RoleAction
): string[] {
  const keep = (drop: (kind: string | null) => boolean) =>
    tags.filter(tag => !drop(kindOf(tag)));
  const add = (list: string[], tag: string) =>
    list.includes(tag) ? list : [...list, tag];
  switch (action.role) {
    case 'step':
      return add(
        keep(k => k === 'role' || k === 'step' || k === 'secret'),
        `step:${action.name}`
      );
    case 'continue':
      return keep(k => k === 'role' || k === 'step' || k === 'secret');
    case 'model':
      return add(
        keep(k => k === 'model'),
        `model:${action.variable}`
      );
    case 'example':
      return add(
        keep(k => k === 'example'),
        `example:${action.expression}`
      );
    case 'cache':
      return action.off
        ? add(
            tags.filter(t => t !== 'cache:disabled'),
            'cache:disabled'
          )
        : tags.filter(t => t !== 'cache:disabled');
    default: {
      const role = action.role;
      return add(
        keep(
          k =>
            k === 'role' ||
            k === 'step' ||
            STEP_MODIFIERS.includes(k ?? '') ||
            (k === 'secret' && role !== 'parameters')
        ),
        role
      );
    }
  }
}

/** Tags without any `model:` (or `example:`) tag: at most one per notebook. */
export function withoutKind(
  tags: readonly string[],
  kind: 'model' | 'example'
): string[] {
  return tags.filter(tag => kindOf(tag) !== kind);
}

/** Why a new step name is refused (null when it is fine). */
export function stepNameProblem(
  name: string,
  existing: readonly string[]
): 'empty' | 'malformed' | 'exists' | null {
  if (!name) {
    return 'empty';
  }
  if (!STEP_NAME.test(name)) {
    return 'malformed';
  }
  return existing.includes(name) ? 'exists' : null;
}
