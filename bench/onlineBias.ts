// The per-token bias that bench/adapt.ts and bench/mixer.ts measure: over a distribution p ∝ w·e^b (w a row's
// weights or frequencies), learned online by the gradient of each token's log-loss, b += η(onehot − p): a unigram
// cache over the whole vocabulary, where the mixer's caches each predict one token.

/** A bias of `vocab` numbers learned at rate `eta`; `cost` gives a token's nats under the biased row, then learns it. */
export class OnlineBias {
  private readonly bias: Float64Array;
  private readonly p: Float64Array;
  constructor(vocab: number, private readonly eta: number) {
    this.bias = new Float64Array(vocab);
    this.p = new Float64Array(vocab);
  }

  cost(weights: ArrayLike<number>, token: number): number {
    const { bias, p, eta } = this;
    let top = -Infinity, z = 0;
    for (const b of bias) top = Math.max(top, b);
    // e^(b − top) ≤ 1: the largest bias cannot overflow
    for (let v = 0; v < p.length; v++) z += p[v] = weights[v] * Math.exp(bias[v] - top);
    const nats = Math.log(z / p[token]);
    for (let v = 0; v < p.length; v++) bias[v] -= (eta * p[v]) / z;
    bias[token] += eta;
    return nats;
  }
}
