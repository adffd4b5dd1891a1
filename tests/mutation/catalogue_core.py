"""Planted bugs outside the factorization samplers: vote scores, Wilson bounds, Beta and
Dirichlet posteriors, bandits, Markov chains, PageRank, association rules, popularity and
bias baselines, top-k metrics, the paired bootstrap and the ADVI driver of the neural models.

Same format as :mod:`catalogue` (each entry made by its ``_m``); :mod:`run` runs both lists.
"""

from catalogue import _m

RANK = "bayesrec/ranking.py"
BETA = "bayesrec/inference/beta.py"
DIRICHLET = "bayesrec/inference/dirichlet.py"
POLICIES = "bayesrec/bandits/policies.py"
SIMULATE = "bayesrec/bandits/simulate.py"
BOUNDS = "bayesrec/bandits/bounds.py"
MARKOV = "bayesrec/markov.py"
PAGERANK = "bayesrec/pagerank.py"
RULES = "bayesrec/rules.py"
POP = "bayesrec/popularity.py"
BASE = "bayesrec/baseline.py"
METRICS = "bayesrec/metrics.py"
COMPARE = "bayesrec/model_selection/_compare.py"
ADVI = "bayesrec/factorization/neural/_advi.py"

RANKT = "tests/test_ranking.py"
BETAT = "tests/test_beta_posterior.py"
BANDT = "tests/test_bandits.py"
DIRT = "tests/test_dirichlet_posterior.py"
MARKT = "tests/test_markov.py"
PRT = "tests/test_pagerank.py"
RULET = "tests/test_rules.py"
POPT = "tests/test_topn_popularity.py"
SVDT = "tests/test_svd.py"
KNNT = "tests/test_neighbors.py"
BASET = "tests/test_baseline.py"
METT = "tests/test_metrics.py"
BOOTT = "tests/test_paired_bootstrap.py"
SERVT = "tests/service/test_service_library.py"
ADVIT = "tests/test_neural_advi.py::test_advi_driver_reads_softplus_sds_and_decays_the_step"

MUTANTS = [
    # ------------------------------------------------------------------ vote scores
    _m("hn_gravity_fixed", RANK, "score = points ** 0.8 / (age + 2.0) ** gravity",
       "score = points ** 0.8 / (age + 2.0) ** 1.8", [RANKT],
       "Hacker News: gravity argument ignored (exponent hard-wired to 1.8)"),
    _m("hn_submitter_vote_kept", RANK, "points = np.maximum(votes - 1.0, 0.0)",
       "points = np.maximum(votes, 0.0)", [RANKT],
       "Hacker News: the submitter's own vote not removed"),
    _m("reddit_natural_log", RANK, "order = np.log10(np.maximum(np.abs(s), 1.0))",
       "order = np.log(np.maximum(np.abs(s), 1.0))", [RANKT],
       "Reddit hot: natural log instead of log10"),
    _m("reddit_sign_dropped", RANK, "return _out(np.copysign(order, s) + seconds / REDDIT_SCALE)",
       "return _out(order + seconds / REDDIT_SCALE)", [RANKT],
       "Reddit hot: net-negative posts get a positive vote term"),
    _m("reddit_datetime_ms", RANK, 'return arr.astype("datetime64[us]").astype(np.int64) / 1e6',
       'return arr.astype("datetime64[ms]").astype(np.int64) / 1e6', [RANKT],
       "Reddit hot: numpy datetimes read in the wrong unit"),
    # ------------------------------------------------------------------ Wilson
    _m("wilson_z_not_squared", RANK, "out += z * z / 4.0", "out += z / 4.0", [RANKT],
       "Wilson: z instead of z^2 under the square root"),
    _m("wilson_denominator_z", RANK, "out /= total + z * z", "out /= total + z", [RANKT],
       "Wilson: denominator n + z instead of n + z^2"),
    _m("wilson_one_sided_z", RANK, "z = float(special.ndtri(1.0 - (1.0 - level) / 2.0))",
       "z = float(special.ndtri(level))", [RANKT],
       "Wilson: one-sided z quantile for a two-sided interval"),
    _m("wilson_variance_by_n_plus_one", RANK, "out /= np.maximum(total, 1.0)",
       "out /= total + 1.0", [RANKT],
       "Wilson: k (n - k) / (n + 1) under the root (off by one in the variance)"),
    _m("smoothed_prior_weight_one", RANK, "denom = n + lam", "denom = n + 1.0", [RANKT],
       "damped mean: one pseudo-rating in the denominator whatever lambda"),
    # ------------------------------------------------------------------ Beta posterior ranking
    _m("ranker_lower_one_sided", RANK, "return beta_quantile((1.0 - c) / 2.0, self.alpha_",
       "return beta_quantile(1.0 - c, self.alpha_", [RANKT, BETAT],
       "Beta ranker: lower bound at 1 - credible instead of (1 - credible) / 2"),
    _m("ranker_topk_ties_overflow", RANK, "tied = np.flatnonzero(scores == cut)[: k - above.size]",
       "tied = np.flatnonzero(scores == cut)[:k]", [RANKT],
       "top-k ranking: every tied item at the cut kept (more than k)"),
    _m("item_stats_strict_threshold", RANK, "weights=ratings.ratings >= threshold",
       "weights=ratings.ratings > threshold", [RANKT],
       "item statistics: a rating equal to the threshold is not a like"),
    _m("lattice_b_fraction_ignored", BETA,
       "(da == np.floor(da)) & (db == np.floor(db))", "(da == np.floor(da))", [RANKT],
       "Beta quantile table: a fractional b taken as on the integer lattice"),
    _m("beta_interval_upper_level", BETA,
       "return beta_quantile(tail, a, b), beta_quantile(1.0 - tail, a, b)",
       "return beta_quantile(tail, a, b), beta_quantile(credible, a, b)", [RANKT],
       "Beta interval: upper end at the credible level, not 1 - tail"),
    _m("bernoulli_counts_failures_total", BETA, "return successes, total - successes",
       "return successes, total", [RANKT, SERVT],
       "Bernoulli counts: every observation counted as a failure"),
    _m("prob_best_swapped", BETA,
       "winners = np.argmax(rng.beta(a, b, size=(n_draws, a.size)), axis=1)",
       "winners = np.argmax(rng.beta(b, a, size=(n_draws, a.size)), axis=1)", [SERVT],
       "P(best): draws from Beta(b, a) (success and failure parameters swapped)"),
    # ------------------------------------------------------------------ bandits
    _m("ucb1_log_pulls", POLICIES, "np.sqrt(2.0 * np.log(max(t, 1)) / pulls)",
       "np.sqrt(2.0 * np.log(np.maximum(pulls, 1)) / pulls)", [BANDT],
       "UCB1: log of the arm's pulls instead of log t"),
    _m("ucb1_no_factor_two", POLICIES, "np.sqrt(2.0 * np.log(max(t, 1)) / pulls)",
       "np.sqrt(np.log(max(t, 1)) / pulls)", [BANDT],
       "UCB1: exploration bonus sqrt(log t / n) without the factor 2"),
    _m("thompson_prior_a_twice", POLICIES,
       "thompson_select(self.a + successes, self.b + (pulls - successes), rng)",
       "thompson_select(self.a + successes, self.a + (pulls - successes), rng)", [BANDT],
       "Thompson bandit: prior a used for the failures too"),
    _m("epsilon_greedy_never_last_arm", POLICIES,
       "rng.integers(0, self.n_arms, size=greedy.size)",
       "rng.integers(0, self.n_arms - 1, size=greedy.size)", [BANDT],
       "epsilon-greedy: exploration never picks the last arm (exclusive bound)"),
    _m("lai_robbins_kl_reversed", BOUNDS, "kl = np.atleast_1d(bernoulli_kl(p[sub], best))",
       "kl = np.atleast_1d(bernoulli_kl(best, p[sub]))", [BANDT],
       "Lai-Robbins: KL(p* || p_a) instead of KL(p_a || p*)"),
    _m("regret_se_is_sd", SIMULATE, "self.regret.std(axis=0, ddof=1) / np.sqrt(r)",
       "self.regret.std(axis=0, ddof=1)", [BANDT],
       "bandit regret: the standard error is the sample sd (no 1 / sqrt(R))"),
    _m("simulate_prior_swapped", SIMULATE,
       'prior = (policy.a, policy.b) if hasattr(policy, "a")',
       'prior = (policy.b, policy.a) if hasattr(policy, "a")', [BANDT],
       "bandit posterior: the policy's Beta prior stored as (b, a)"),
    # ------------------------------------------------------------------ Dirichlet rows
    _m("dirichlet_alpha_per_row", DIRICHLET,
       "prior_mass = np.full(self.n_rows, self.epsilon * self.n_cols)\n        return",
       "prior_mass = np.full(self.n_rows, self.epsilon)\n        return", [DIRT, MARKT],
       "Dirichlet mean: epsilon added once per row instead of once per cell"),
    _m("dirichlet_dense_alpha_per_row", DIRICHLET,
       "return self.counts[idx].toarray() + self.epsilon",
       "return self.counts[idx].toarray() + self.epsilon / self.n_cols", [DIRT, MARKT],
       "dense Dirichlet draw: epsilon spread over the row instead of per cell"),
    _m("dirichlet_entries_leak_by_column", DIRICHLET,
       "return w.reshape(i.shape) * self.scale[i] + self.leak[i]",
       "return w.reshape(i.shape) * self.scale[i] + self.leak[j]", [MARKT],
       "sparse row-stochastic entries: smoothing term of the column's row"),
    _m("dirichlet_matvec_mean", DIRICHLET, "+ self.leak * v.sum()", "+ self.leak * v.mean()",
       [DIRT, MARKT],
       "A @ v: the rank-one term uses mean(v) instead of sum(v)"),
    _m("dirichlet_empty_row_zero", DIRICHLET,
       "leak = np.where(empty, 1.0 / n_cols, prior_mass / n_cols * scale)",
       "leak = np.where(empty, 0.0, prior_mass / n_cols * scale)", [MARKT, PRT],
       "Dirichlet mean: a never-left state gets an all-zero row, not the uniform one"),
    # ------------------------------------------------------------------ Markov chain
    _m("stationary_right_eigenvector", MARKOV, "w, vecs = np.linalg.eig(self._A.toarray().T)",
       "w, vecs = np.linalg.eig(self._A.toarray())", [MARKT],
       "stationary distribution from the right eigenvector (always uniform)"),
    _m("stationary_sign_not_fixed", MARKOV,
       "vec = np.real(vec)\n            vec = vec / vec.sum()\n",
       "vec = np.real(vec)\n", [MARKT],
       "stationary distribution: eigenvector sign not fixed before clipping"),
    _m("state_distribution_one_step_short", MARKOV,
       "for _ in range(k):\n            new = self._A.vecmat(pi)",
       "for _ in range(k - 1):\n            new = self._A.vecmat(pi)", [MARKT],
       "pi0 A^k: one step short"),
    _m("markov_tie_break_reversed", MARKOV, "return freq / (freq.max() + 1.0)",
       "return (freq.max() - freq) / (freq.max() + 1.0)", [MARKT],
       "next states: equal counts ordered by the rarest state first"),
    _m("markov_initial_laplace", MARKOV,
       "initial = DirichletRows(initial_counts[None, :], eps)",
       "initial = DirichletRows(initial_counts[None, :], 1.0)", [MARKT],
       "initial distribution: add-one smoothing whatever epsilon"),
    # ------------------------------------------------------------------ PageRank
    _m("pagerank_dangling_dropped", PAGERANK, "v = alpha * s + c_leak * di + beta * pi",
       "v = alpha * s + beta * pi", [PRT],
       "PageRank: the dangling pages' mass dropped"),
    _m("pagerank_dangling_undamped", PAGERANK, "c_leak = alpha * leaked",
       "c_leak = leaked", [PRT],
       "PageRank: dangling mass passed on undamped (teleport share counted twice)"),
    _m("pagerank_posterior_leak_fraction", PAGERANK, "chain.scale, chain.leak * n, p,",
       "chain.scale, chain.leak, p,", [PRT],
       "PageRank posterior: per-entry leak passed where the row's total is expected"),
    _m("pagerank_posterior_prior_per_cell", PAGERANK, "post = DirichletRows(counts, prior / n)",
       "post = DirichletRows(counts, prior)", [PRT],
       "PageRank posterior: prior per cell instead of per row"),
    _m("pagerank_interval_one_sided", PAGERANK,
       "lo, hi = np.quantile(self.draws, [(1 - prob) / 2, (1 + prob) / 2], axis=0)",
       "lo, hi = np.quantile(self.draws, [1 - prob, prob], axis=0)", [PRT],
       "PageRank posterior: interval at 1 - prob and prob (not equal-tailed)"),
    _m("pagerank_rank_ascending", PAGERANK,
       'ranks = rankdata(-self.draws, method="min"',
       'ranks = rankdata(self.draws, method="min"', [PRT],
       "PageRank summary: rank 1 is the smallest PageRank"),
    _m("pagerank_rank_ties_arbitrary", PAGERANK,
       'rankdata(-self.draws, method="min", axis=1)',
       'rankdata(-self.draws, method="ordinal", axis=1)', [PRT],
       "PageRank summary: exactly tied pages get different ranks (arbitrary order)"),
    # ------------------------------------------------------------------ association rules
    _m("rules_lift_antecedent", RULES, "lift = conf / s_c", "lift = conf / s_a", [RULET],
       "lift divided by the antecedent's support"),
    _m("rules_lift_filter_antecedent", RULES, "ok &= conf / s_c >= min_lift",
       "ok &= conf / s_a >= min_lift", [RULET],
       "min_lift filter computed with the antecedent's support"),
    _m("rules_conviction_antecedent", RULES,
       "conviction = np.where(conf < 1.0, (1.0 - s_c) / (1.0 - conf), np.inf)",
       "conviction = np.where(conf < 1.0, (1.0 - s_a) / (1.0 - conf), np.inf)", [RULET],
       "conviction with the antecedent's support"),
    # ------------------------------------------------------------------ popularity, biases
    _m("beta_popularity_all_users", POP, ".fit(counts, n_active - counts,",
       ".fit(counts, ratings.n_users - counts,",
       [POPT], "Beta popularity: users without an interaction counted as failures"),
    _m("popularity_similarity_no_sqrt", POP,
       "norms = np.sqrt(self.item_counts_ * self.item_counts_[i])",
       "norms = self.item_counts_ * self.item_counts_[i]", [POPT],
       "similar items: co-counts divided by |N(i)| |N(j)| (no square root)"),
    _m("damped_means_prior_once", BASE,
       "out[ok] = prior_mean + (sums[ok] - counts[ok] * prior_mean) / denom[ok]",
       "out[ok] = prior_mean + (sums[ok] - prior_mean) / denom[ok]", [BASET, KNNT],
       "damped mean: the prior mean subtracted once instead of n times"),
    _m("bias_user_ignores_item_bias", BASE, "resid = ratings.ratings - mu - c[ratings.items]",
       "resid = ratings.ratings - mu", [BASET, SVDT],
       "bias baseline: user biases fitted without removing the item biases"),
    _m("bias_predict_user_zero_unknown", BASE,
       "pred += np.where(users >= 0, self.user_bias_[np.maximum(users, 0)], 0.0)",
       "pred += np.where(users > 0, self.user_bias_[np.maximum(users, 0)], 0.0)", [BASET],
       "bias baseline: the user at index 0 treated as unknown"),
    # ------------------------------------------------------------------ metrics
    _m("ndcg_ideal_full_k", METRICS,
       "ideal = np.cumsum(discount)[np.clip(np.minimum(n_rel, k) - 1, 0, k - 1)]",
       "ideal = np.cumsum(discount)[k - 1]", [METT],
       "NDCG: ideal DCG of k hits whatever the number of relevant items"),
    _m("map_normaliser_n_rel", METRICS,
       "ap = (prec_at_p * hits).sum(1) / np.maximum(np.minimum(n_rel, k), 1)",
       "ap = (prec_at_p * hits).sum(1) / np.maximum(n_rel, 1)", [METT],
       "AP@k divided by |relevant| instead of min(k, |relevant|)"),
    _m("metrics_list_not_truncated", METRICS, "rec = _check_recommended(rec[:, :k], n_items)",
       "rec = _check_recommended(rec, n_items)", [METT],
       "top-k metrics: hits counted beyond position k"),
    _m("rmse_mean_of_roots", METRICS, "return float(np.sqrt(np.mean((a - b) ** 2)))",
       "return float(np.mean(np.sqrt((a - b) ** 2)))", [METT],
       "RMSE: mean of the roots (that is MAE)"),
    _m("bootstrap_last_user_never_drawn", COMPARE,
       "means[s:s + m] = d[rng.integers(0, n, (m, n))].mean(axis=1)",
       "means[s:s + m] = d[rng.integers(0, n - 1, (m, n))].mean(axis=1)", [BOOTT],
       "paired bootstrap: the last user is never resampled (exclusive bound)"),
    _m("bootstrap_one_sided_tail", COMPARE, "tail = 0.5 * (1.0 - level)",
       "tail = 1.0 - level", [BOOTT],
       "paired bootstrap: both interval ends at 1 - level (too narrow)"),
    # ------------------------------------------------------------------ ADVI driver
    _m("advi_sd_exp_not_softplus", ADVI,
       "sds = _unflatten(approx, _softplus(approx.params[1].get_value()))",
       "sds = _unflatten(approx, np.exp(approx.params[1].get_value()))", [ADVIT],
       "ADVI: posterior sd read as exp(rho) instead of softplus(rho)"),
    _m("advi_lr_decays_to_zero", ADVI, "lr * (1.0 - 0.9 * (i + 1 - half) / max(n_iter - half, 1))",
       "lr * (1.0 - (i + 1 - half) / max(n_iter - half, 1))", [ADVIT],
       "ADVI: step size decays to 0 instead of lr / 10"),
]
