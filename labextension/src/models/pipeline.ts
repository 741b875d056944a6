import { ISignal, Signal } from '@lumino/signaling';

import {
  ICompileResult,
  IJSONSchema,
  IPipelineStep,
  MlopsAPIError,
  MlopsClient
} from '../api';
import { FetchStatus } from '../tokens';

/**
 * How long the pipeline model waits after the last edit before compiling.
 */
export const COMPILE_DEBOUNCE_MS = 200;

/**
 * The pipeline of the notebook in focus, compiled from the editor's content
 * (unsaved edits included), and the parameter values chosen for the next run.
 */
export class PipelineModel {
  constructor(client: MlopsClient) {
    this._client = client;
  }

  /** Emitted when anything of this model changes. */
  get changed(): ISignal<PipelineModel, void> {
    return this._changed;
  }
  /** The path (relative to the server root) of the notebook followed. */
  get path(): string | null {
    return this._path;
  }
  get status(): FetchStatus {
    return this._status;
  }
  /** The request error (server unreachable, 4xx), not a compile error. */
  get error(): string | null {
    return this._error;
  }
  get result(): ICompileResult | null {
    return this._result;
  }
  /** The step holding the active cell of the notebook, if any. */
  get activeStep(): string | null {
    return this.stepOfCell(this._activeCell);
  }
  /** The step chosen in the panel (node click). */
  get selectedStep(): string | null {
    return this._selectedStep;
  }
  set selectedStep(value: string | null) {
    if (value !== this._selectedStep) {
      this._selectedStep = value;
      this._changed.emit();
    }
  }

  /** Whether compiles are wanted (the panel is visible). */
  get active(): boolean {
    return this._active;
  }
  set active(value: boolean) {
    if (value === this._active) {
      return;
    }
    this._active = value;
    if (value && this._stale) {
      this.schedule(0);
    }
  }

  /**
   * Follow a notebook; `content` returns its current JSON (or null while the
   * document is not ready, then the saved file is compiled).
   */
  setNotebook(path: string | null, content: (() => unknown) | null = null) {
    this._content = content;
    if (path === this._path) {
      return;
    }
    this._path = path;
    this._result = null;
    this._error = null;
    this._status = 'idle';
    this._activeCell = null;
    this._selectedStep = null;
    this._request++;
    this._changed.emit();
    if (path !== null) {
      this.schedule(0);
    }
  }

  /** The notebook was edited: compile again after a pause. */
  schedule(delay = COMPILE_DEBOUNCE_MS): void {
    if (this._path === null) {
      return;
    }
    if (!this._active) {
      this._stale = true;
      return;
    }
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    this._timer = setTimeout(() => {
      this._timer = null;
      void this.compile();
    }, delay);
  }

  /** Compile the followed notebook now. */
  async compile(): Promise<void> {
    const path = this._path;
    if (path === null) {
      return;
    }
    this._stale = false;
    const request = ++this._request;
    this._status = 'loading';
    this._changed.emit();
    try {
      const content = this._content ? this._content() : null;
      let result: ICompileResult;
      if (content && this._postable) {
        try {
          result = await this._client.compileContent(path, content);
        } catch (error) {
          // A server without the POST route compiles the saved file only.
          if (!(error instanceof MlopsAPIError && error.status === 405)) {
            throw error;
          }
          this._postable = false;
          result = await this._client.compile(path);
        }
      } else {
        result = await this._client.compile(path);
      }
      if (request !== this._request) {
        return;
      }
      this._result = result;
      this._error = null;
      this._status = 'ready';
      this._syncValues(result.parameters_schema);
    } catch (error) {
      if (request !== this._request) {
        return;
      }
      this._result = null;
      this._error = error instanceof Error ? error.message : String(error);
      this._status = 'error';
    }
    this._changed.emit();
  }

  /** The step holding cell `index` (setup/parameter cells have none). */
  stepOfCell(index: number | null): string | null {
    if (index === null) {
      return null;
    }
    const steps = this._result?.pipeline?.steps ?? [];
    return steps.find(s => s.cells.includes(index))?.name ?? null;
  }

  /** The step called `name` in the current pipeline. */
  step(name: string): IPipelineStep | undefined {
    return this._result?.pipeline?.steps.find(s => s.name === name);
  }

  /** The notebook's active cell changed. */
  setActiveCell(index: number | null): void {
    if (index !== this._activeCell) {
      this._activeCell = index;
      // The cell now shows which step is meant.
      this._selectedStep = null;
      this._changed.emit();
    }
  }

  /** The parameter values for the next run (defaults unless changed). */
  get values(): { [name: string]: unknown } {
    return this._values;
  }
  set values(values: { [name: string]: unknown }) {
    this._values = { ...values };
    if (this._path !== null) {
      this._valuesByPath.set(this._path, this._values);
    }
    this._changed.emit();
  }

  /** The parameter defaults of the notebook. */
  get defaults(): { [name: string]: unknown } {
    const out: { [name: string]: unknown } = {};
    const props = this._result?.parameters_schema?.properties ?? {};
    for (const [name, schema] of Object.entries(props)) {
      out[name] = schema.default;
    }
    return out;
  }

  /** Forget the values typed in: back to the notebook's defaults. */
  resetValues(): void {
    this.values = this.defaults;
  }

  /**
   * The values that differ from the defaults (what a run is started with).
   */
  get changedValues(): { [name: string]: unknown } {
    const defaults = this.defaults;
    const out: { [name: string]: unknown } = {};
    for (const [name, value] of Object.entries(this._values)) {
      if (JSON.stringify(value) !== JSON.stringify(defaults[name])) {
        out[name] = value;
      }
    }
    return out;
  }

  /** Keep the values of parameters still there; defaults for new ones. */
  private _syncValues(schema: IJSONSchema): void {
    const path = this._path!;
    const previous = this._valuesByPath.get(path) ?? {};
    const previousDefaults = this._defaultsByPath.get(path) ?? {};
    const values: { [name: string]: unknown } = {};
    for (const [name, prop] of Object.entries(schema?.properties ?? {})) {
      const touched =
        name in previous &&
        JSON.stringify(previous[name]) !==
          JSON.stringify(previousDefaults[name]);
      values[name] = touched ? previous[name] : prop.default;
    }
    this._defaultsByPath.set(path, this.defaults);
    this._valuesByPath.set(path, values);
    this._values = values;
  }

  private _client: MlopsClient;
  private _postable = true;
  private _changed = new Signal<PipelineModel, void>(this);
  private _path: string | null = null;
  private _content: (() => unknown) | null = null;
  private _status: FetchStatus = 'idle';
  private _error: string | null = null;
  private _result: ICompileResult | null = null;
  private _request = 0;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _active = false;
  private _stale = false;
  private _activeCell: number | null = null;
  private _selectedStep: string | null = null;
  private _values: { [name: string]: unknown } = {};
  private _valuesByPath = new Map<string, { [name: string]: unknown }>();
  private _defaultsByPath = new Map<string, { [name: string]: unknown }>();
}
