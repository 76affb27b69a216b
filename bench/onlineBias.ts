// The per-token bias that bench/adapt.ts and bench/mixer.ts measure: over a distribution p ∝ w·e^b (w a row's
// weights or frequencies), learned online by the gradient of each token's log-loss, b += η(onehot − p): a unigram
// cache over the whole vocabulary, where the mixer's caches each predict one token. With a context rate, a second
// bias c[prev] for each previous token, kept only for the tokens seen after it (p ∝ w·e^(b + c[prev])): a bigram
// cache, learned the same way over those tokens. What a coder's integers would bound can be bounded here: each c
// within ±clamp, and at most `size` tokens kept for each previous token (a new one replaces the lowest c).

/** The bias for each previous token: its rate (0: none), the bound on each c, and the most tokens kept a context. */
export interface ContextBias {
  eta: number;
  clamp: number;
  size: number;
}

/** A bias of `vocab` numbers learned at rate `eta`; `cost` gives a token's nats under the biased row, then learns it. */
export class OnlineBias {
  private readonly bias: Float64Array;
  private readonly p: Float64Array;
  private readonly contexts = new Map<number, Map<number, number>>();
  constructor(vocab: number, private readonly eta: number, private readonly context: ContextBias = { eta: 0, clamp: 30, size: Infinity }) {
    this.bias = new Float64Array(vocab);
    this.p = new Float64Array(vocab);
  }

  cost(weights: ArrayLike<number>, token: number, previous = -1): number {
    const { bias, p, eta } = this;
    const { eta: contextEta, clamp, size } = this.context;
    const context = contextEta > 0 ? this.contexts.get(previous) ?? new Map<number, number>() : undefined;
    let top = -Infinity, z = 0;
    for (const b of bias) top = Math.max(top, b);
    // e^(b − top) ≤ 1: the largest bias cannot overflow (nor e^c, within ±clamp)
    for (let v = 0; v < p.length; v++) p[v] = weights[v] * Math.exp(bias[v] - top);
    context?.forEach((c, v) => (p[v] *= Math.exp(c)));
    for (let v = 0; v < p.length; v++) z += p[v];
    const nats = Math.log(z / p[token]);
    for (let v = 0; v < p.length; v++) bias[v] -= (eta * p[v]) / z;
    bias[token] += eta;
    if (context) {
      const within = (c: number) => Math.min(clamp, Math.max(-clamp, c));
      context.forEach((c, v) => context.set(v, within(c - (contextEta * p[v]) / z)));
      if (!context.has(token) && context.size >= size) {
        let lowest = -1;
        context.forEach((c, v) => (lowest < 0 || c < context.get(lowest)! ? (lowest = v) : 0));
        context.delete(lowest);
      }
      context.set(token, within((context.get(token) ?? 0) + contextEta));
      this.contexts.set(previous, context);
    }
    return nats;
  }
}
