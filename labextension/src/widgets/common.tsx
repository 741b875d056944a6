import { TranslationBundle } from '@jupyterlab/translation';
import { ISignal } from '@lumino/signaling';
import * as React from 'react';

/**
 * Re-render the component each time one of `signals` is emitted.
 */
export function useSignals(...signals: ISignal<any, any>[]): void {
  const [, setTick] = React.useState(0);
  React.useEffect(() => {
    const bump = () => setTick(t => t + 1);
    signals.forEach(s => s.connect(bump));
    return () => {
      signals.forEach(s => s.disconnect(bump));
    };
  }, signals);
}

/**
 * The current time, updated every `ms` while `enabled`.
 */
export function useNow(enabled: boolean, ms = 500): number {
  const [now, setNow] = React.useState(Date.now());
  React.useEffect(() => {
    if (!enabled) {
      return;
    }
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [enabled, ms]);
  return now;
}

/** "1.2 s", "3 min 4 s". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) {
    return '';
  }
  if (seconds < 60) {
    return `${seconds.toFixed(1)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
}

/** A short local date-time. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) {
    return '';
  }
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** A metric or parameter value, short. */
export function formatValue(value: unknown): string {
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  }
  if (value === undefined) {
    return '';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The translated label of a run or step status. */
export function statusLabel(trans: TranslationBundle, status: string): string {
  const labels: { [status: string]: string } = {
    pending: trans.__('pending'),
    queued: trans.__('queued'),
    running: trans.__('running'),
    succeeded: trans.__('succeeded'),
    cached: trans.__('cached'),
    failed: trans.__('failed'),
    skipped: trans.__('skipped'),
    cancelled: trans.__('cancelled'),
    interrupted: trans.__('interrupted')
  };
  return labels[status] ?? status;
}

/** An inline error, announced to assistive technologies. */
export function ErrorLine(props: {
  className?: string;
  message: string | null;
}): JSX.Element | null {
  if (!props.message) {
    return null;
  }
  return (
    <div className={`jp-mlops-error ${props.className ?? ''}`} role="alert">
      {props.message}
    </div>
  );
}

/** The nearest ancestor of `node` that scrolls vertically, if any. */
function scrollParent(node: HTMLElement): HTMLElement | null {
  for (let el = node.parentElement; el; el = el.parentElement) {
    const overflow = getComputedStyle(el).overflowY;
    if (
      (overflow === 'auto' || overflow === 'scroll') &&
      el.scrollHeight > el.clientHeight
    ) {
      return el;
    }
  }
  return null;
}

/**
 * Bring the element of `ref` into view inside its section each time `key`
 * changes to a non-empty value. Only the nearest scrolling ancestor moves
 * (`scrollIntoView` would also shift JupyterLab's `overflow: hidden` shell).
 */
export function useReveal(
  ref: React.RefObject<HTMLElement>,
  key: string | null
): void {
  React.useEffect(() => {
    const node = ref.current;
    if (!key || !node) {
      return;
    }
    const parent = scrollParent(node);
    if (!parent) {
      return;
    }
    const box = node.getBoundingClientRect();
    const view = parent.getBoundingClientRect();
    if (box.bottom > view.bottom) {
      // Show its end, but never push its start above the top.
      parent.scrollTop += Math.min(
        box.bottom - view.bottom,
        box.top - view.top
      );
    } else if (box.top < view.top) {
      parent.scrollTop -= view.top - box.top;
    }
  }, [key]);
}
