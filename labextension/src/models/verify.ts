import { ISignal, Signal } from '@lumino/signaling';

import { IVerifyResult, MlopsClient } from '../api';
import { FetchStatus } from '../tokens';

/**
 * The verification of a notebook's pipeline (`POST /mlops/api/verify`): the
 * saved notebook run top to bottom and its pipeline compute the same values.
 * Results are kept per notebook.
 */
export class VerifyModel {
  constructor(client: MlopsClient) {
    this._client = client;
  }

  /** Emitted when anything of this model changes. */
  get changed(): ISignal<VerifyModel, void> {
    return this._changed;
  }
  /** The notebook followed. */
  get path(): string | null {
    return this._path;
  }
  /** `loading` while the notebook followed is being verified. */
  get status(): FetchStatus {
    return this._state()?.status ?? 'idle';
  }
  /** The request error (server unreachable, 4xx), not a difference. */
  get error(): string | null {
    return this._state()?.error ?? null;
  }
  /** The last verification of the notebook followed. */
  get result(): IVerifyResult | null {
    return this._state()?.result ?? null;
  }
  /** When the verification in progress (or the last one) started, in ms. */
  get startedAt(): number | null {
    return this._state()?.startedAt ?? null;
  }

  /** Follow a notebook. */
  setPath(path: string | null): void {
    if (path !== this._path) {
      this._path = path;
      this._changed.emit();
    }
  }

  /**
   * Verify the saved notebook followed with these parameter values; the
   * outcome (equal or not) is in `result`, a failed request in `error`.
   */
  async verify(
    parameters: { [name: string]: unknown } = {},
    tolerance: number | null = null
  ): Promise<void> {
    const path = this._path;
    if (path === null || this._state()?.status === 'loading') {
      return;
    }
    const state: Private.IState = {
      status: 'loading',
      error: null,
      result: null,
      startedAt: Date.now()
    };
    this._states.set(path, state);
    this._changed.emit();
    try {
      state.result = await this._client.verify(path, parameters, tolerance);
      state.status = 'ready';
    } catch (error) {
      state.error = error instanceof Error ? error.message : String(error);
      state.status = 'error';
    }
    this._changed.emit();
  }

  /** Show why a verification could not start (e.g. invalid parameters). */
  reportError(message: string): void {
    const path = this._path;
    if (path === null || this._state()?.status === 'loading') {
      return;
    }
    this._states.set(path, {
      status: 'error',
      error: message,
      result: null,
      startedAt: Date.now()
    });
    this._changed.emit();
  }

  /** Forget the outcome shown for the notebook followed. */
  clear(): void {
    const state = this._state();
    if (state && state.status !== 'loading' && this._path !== null) {
      this._states.delete(this._path);
      this._changed.emit();
    }
  }

  private _state(): Private.IState | undefined {
    return this._path === null ? undefined : this._states.get(this._path);
  }

  private _client: MlopsClient;
  private _changed = new Signal<VerifyModel, void>(this);
  private _path: string | null = null;
  private _states = new Map<string, Private.IState>();
}

namespace Private {
  export interface IState {
    status: FetchStatus;
    error: string | null;
    result: IVerifyResult | null;
    startedAt: number;
  }
}
