"""Catalogue of planted bugs for :mod:`run` (each a plausible slip in a sampler or closed form).

An entry: ``id``; ``file`` (repository-relative); ``old``, the exact original snippet (must
occur once); ``new``, its replacement; ``tests``, the test files (or node ids) that must catch
it, cheapest first; ``why``, the bug in words.
"""

MOVES = "bayesrec/factorization/bpmf/_moves.py"
SWEEP = "bayesrec/factorization/bpmf/_sweep.py"
LINALG = "bayesrec/factorization/bpmf/_linalg.py"
NW = "bayesrec/inference/normal_wishart.py"
DIRICHLET = "bayesrec/inference/dirichlet.py"
BETA = "bayesrec/inference/beta.py"
HPF = "bayesrec/factorization/implicit/hpf/_gibbs.py"
HPF_CAVI = "bayesrec/factorization/implicit/hpf/_cavi.py"
HPF_KERNELS = "bayesrec/factorization/implicit/hpf/_kernels.py"
HPF_DATA = "bayesrec/factorization/implicit/hpf/_data.py"
HPF_EST = "bayesrec/factorization/implicit/hpf/_estimator.py"
WMF_SWEEP = "bayesrec/factorization/implicit/wmf/_sweep.py"
WMF_DATA = "bayesrec/factorization/implicit/wmf/_data.py"
WMF_BPMF = "bayesrec/factorization/implicit/wmf/_bpmf.py"
WMF_CROSS = "bayesrec/factorization/implicit/wmf/_crossprod.py"
BANK = "bayesrec/inference/draw_bank.py"

EXACT = "tests/test_bpmf_moves_exact.py"
NWT = "tests/test_normal_wishart.py"
NWD = "tests/test_normal_wishart_draws.py"
GEWEKE = "tests/test_bpmf_geweke.py"
SBC = "tests/test_sbc_bpmf.py"
BPMFT = "tests/test_bpmf.py"
DIRT = "tests/test_dirichlet_posterior.py"
BETAT = "tests/test_beta_posterior.py"
RANKT = "tests/test_ranking.py"
BANDT = "tests/test_bandits.py"
MARKT = "tests/test_markov.py"
HPF_TESTS = ["tests/test_hpf_geweke.py", "tests/test_sbc_hpf.py", "tests/test_hpf.py"]
HPFT = "tests/test_hpf.py"
HPF_CAVI_TESTS = [HPFT]
HPF_EST_TESTS = [HPFT, "tests/test_draw_bank.py"]
WMFT = "tests/test_implicit_wmf.py"
WMF_TESTS = ["tests/test_wmf_side_stats.py", WMFT, "tests/test_implicit_geweke.py",
             "tests/test_sbc_implicit_bpmf.py"]
BANKT = "tests/test_draw_bank.py"
PRT = "tests/test_pagerank.py"

BPMF_TESTS = [EXACT, NWT, GEWEKE, SBC]


def _m(id, file, old, new, tests, why):
    return dict(id=id, file=file, old=old, new=new, tests=list(tests), why=why)


MUTANTS = [
    # ------------------------------------------------------------------ scale move
    _m("rescale_p_sign", MOVES,
       "p = 0.5 * k * (state.xu.shape[0] - state.xv.shape[0])",
       "p = 0.5 * k * (state.xv.shape[0] - state.xu.shape[0])", BPMF_TESTS,
       "scale move without hyperprior: Jacobian exponent with the wrong sign"),
    _m("rescale_dropped_jacobian", MOVES,
       "p = 0.5 * k * (state.xu.shape[0] - state.xv.shape[0])", "p = 0.0", BPMF_TESTS,
       "scale move without hyperprior: Jacobian c^((nU - nV) K) dropped"),
    _m("rescale_scale_inverted", MOVES, "t = float(np.sqrt(a / b) *", "t = float(np.sqrt(b / a) *",
       BPMF_TESTS, "scale move: GIG scale sqrt(b/a) instead of sqrt(a/b)"),
    _m("rescale_lambda_by_c", MOVES, "state.lam_u = state.lam_u / t",
       "state.lam_u = state.lam_u / c", BPMF_TESTS,
       "scale move: Lambda_U divided by c instead of c^2"),
    _m("rescale_mu_not_moved", MOVES, "state.mu_u = state.mu_u * c", "state.mu_u = state.mu_u",
       BPMF_TESTS, "scale move: mu_U left behind"),
    _m("rescale_haar_missing", MOVES, "np.sum(w0inv * state.lam_v), 0.0",
       "np.sum(w0inv * state.lam_v), 1.0", BPMF_TESTS,
       "scale move: Lebesgue dt instead of the Haar measure dt/t (GIG order 1 instead of 0)"),
    _m("rescale_w0_ignored", MOVES,
       "a, b, p = np.sum(w0inv * state.lam_u)", "a, b, p = np.trace(state.lam_u)", BPMF_TESTS,
       "scale move: tr(Lambda) instead of tr(W0^-1 Lambda) (wrong for general W0)"),
    # ------------------------------------------------------------------ GL(K) walk
    _m("linear_w0_identity", MOVES, "w0inv = prior.w0_inv\n    lam_u, lam_v",
       "w0inv = np.eye(k)\n    lam_u, lam_v", BPMF_TESTS,
       "GL(K) walk: target written for W0 = I"),
    _m("linear_mu_v_transpose", MOVES, "state.mu_v = a_inv @ state.mu_v",
       "state.mu_v = a_inv.T @ state.mu_v", BPMF_TESTS,
       "GL(K) walk: mu_V transformed by A^-T instead of A^-1"),
    _m("linear_not_inversion_symmetric", MOVES, "if rng.uniform() < 0.5:",
       "if rng.uniform() < 0.0:", BPMF_TESTS,
       "GL(K) walk: proposal B = I + step Z only (not inversion-symmetric)"),
    _m("linear_lam_v_transform", MOVES, "state.lam_v = a.T @ lam_v @ a",
       "state.lam_v = a_inv @ lam_v @ a_inv.T", BPMF_TESTS,
       "GL(K) walk: Lambda_V transformed like Lambda_U"),
    # ------------------------------------------------------------------ translations
    _m("translate_tau_5pct", MOVES, "p = prior.nw.beta0 * lam + tau * _gram(f)",
       "p = prior.nw.beta0 * lam + 1.05 * tau * _gram(f)", BPMF_TESTS,
       "translation: precision 5% too large in the bias term"),
    _m("translate_mu0_dropped", MOVES, "h = -prior.nw.beta0 * lam @ (mu - prior.nw.mu0)",
       "h = -prior.nw.beta0 * lam @ mu", BPMF_TESTS,
       "translation: prior mean mu0 dropped (wrong when mu0 != 0)"),
    _m("translate_no_hyper_count", MOVES, "prior.factor_precision * len(mov) * np.eye(k)",
       "prior.factor_precision * np.eye(k)", BPMF_TESTS,
       "translation without hyperprior: precision not multiplied by the number of rows"),
    _m("translate_bias_sign", MOVES, "fix[:, k] -= f @ d", "fix[:, k] += f @ d", BPMF_TESTS,
       "translation: biases moved the wrong way (likelihood not invariant)"),
    _m("translate_rhs_sign", MOVES, "mov[:, :k].sum(axis=0) + tau * fix[:, k] @ f",
       "mov[:, :k].sum(axis=0) - tau * fix[:, k] @ f",
       BPMF_TESTS, "translation without hyperprior: bias term of the mean with the wrong sign"),
    # ------------------------------------------------------------------ weighted shift
    _m("shift_rows_unweighted", MOVES, "x[:, :k] += w[:, None] * delta", "x[:, :k] += delta",
       BPMF_TESTS, "weighted shift: rows moved by d instead of w_j d (not the move's target)"),
    _m("shift_prior_precision", MOVES, "(beta0 + np.sum((1 - w) ** 2)) * lam",
       "(beta0 + np.sum(1 - w)) * lam", BPMF_TESTS,
       "weighted shift: prior precision with (1 - w) instead of (1 - w)^2"),
    _m("shift_variance_5pct", MOVES,
       "delta = np.linalg.solve(prec, h) + np.linalg.solve(chol.T,",
       "delta = np.linalg.solve(prec, h) + 1.025 * np.linalg.solve(chol.T,", BPMF_TESTS,
       "weighted shift: variance 5% too large"),
    _m("shift_dsse_quadratic_dropped", MOVES,
       "d_sse = float(-2.0 * delta @ we + delta @ a_sum @ delta)",
       "d_sse = float(-2.0 * delta @ we)", BPMF_TESTS,
       "weighted shift: SSE bookkeeping misses the quadratic term"),
    _m("shift_alpha_dropped", MOVES, "h = alpha * we + lam @ dev", "h = we + lam @ dev",
       BPMF_TESTS, "weighted shift: noise precision missing in the mean"),
    _m("shift_mu0_dropped", MOVES, "- beta0 * lam @ (mu - prior.nw.mu0)", "- beta0 * lam @ mu",
       BPMF_TESTS, "weighted shift: prior mean mu0 dropped"),
    # ------------------------------------------------------------------ sweep conditionals
    _m("alpha_shape_off_by_one", SWEEP, "prior.alpha_a + 0.5 * data.n_ratings",
       "prior.alpha_a + 0.5 * (data.n_ratings - 1)", BPMF_TESTS,
       "alpha | SSE: degrees of freedom n - 1 instead of n"),
    _m("alpha_rate_no_half", SWEEP, "prior.alpha_b + 0.5 * state.sse",
       "prior.alpha_b + state.sse", BPMF_TESTS, "alpha | SSE: rate b + SSE instead of b + SSE/2"),
    _m("prior_h_no_lambda", SWEEP, "h[:k] = lam @ mu", "h[:k] = mu", BPMF_TESTS,
       "row prior: h = mu instead of Lambda mu"),
    _m("prior_bias_variance", SWEEP, "prec[k, k] = tau", "prec[k, k] = 1.0 / tau", BPMF_TESTS,
       "row prior: bias variance used as precision"),
    _m("tau_collapsed_half", SWEEP, "0.5 * n_keep * y", "n_keep * y", BPMF_TESTS,
       "collapsed tau: sum log(tau) instead of sum log(tau)/2"),
    _m("tau_collapsed_alpha_power", SWEEP, "q = 0.5 * alpha ** 2 * s[keep] ** 2",
       "q = 0.5 * alpha * s[keep] ** 2", BPMF_TESTS, "collapsed tau: alpha instead of alpha^2"),
    _m("tau_log_jacobian", SWEEP, "return (a * y - b * t", "return ((a - 1) * y - b * t",
       BPMF_TESTS, "collapsed tau: log-scale Jacobian dropped"),
    _m("tau_empty_rows_counted", SWEEP, "n_keep = float(keep.sum())",
       "n_keep = float(len(keep))", BPMF_TESTS,
       "collapsed tau: rows without ratings counted in the determinant term"),
    _m("item_step_stale_users", SWEEP, "xu, mu_v, lam_v, state.tau_c, alpha",
       "state.xu, mu_v, lam_v, state.tau_c, alpha", BPMF_TESTS,
       "item step conditions on the previous sweep's user rows"),
    _m("hyper_stale_rows", SWEEP, "mu_v, lam_v = _sample_hyper(prior, state.xv, rng)",
       "mu_v, lam_v = _sample_hyper(prior, state.xu, rng)", BPMF_TESTS,
       "item hyper-parameters drawn from the user rows"),
    _m("draw_rows_variance_5pct", LINALG,
       "z = np.zeros((n, d)) if mode else rng.standard_normal((n, d))",
       "z = np.zeros((n, d)) if mode else 1.025 * rng.standard_normal((n, d))", BPMF_TESTS,
       "row draws: conditional variance 5% too large"),
    _m("draw_rows_alpha_in_mean", LINALG, "acc = alpha * g[s, i] + prior_h[i]",
       "acc = g[s, i] + prior_h[i]", BPMF_TESTS,
       "row draws (compiled): alpha missing from the mean's right-hand side"),
    _m("draw_rows_sse_factor", LINALG, "sse[s] = t2[s] - 2.0 * lin + quad",
       "sse[s] = t2[s] - lin + quad", BPMF_TESTS,
       "row draws: per-row SSE with a missing factor 2 (alpha then conditions on it)"),
    # ------------------------------------------------------------------ Normal-Wishart
    _m("nw_beta_off_by_one", NW, "beta_n = self.beta0 + n\n", "beta_n = self.beta0 + n - 1\n",
       [NWT, NWD] + BPMF_TESTS, "Normal-Wishart: beta_N = beta0 + N - 1"),
    _m("nw_df_off_by_one", NW, "self.nu0 + n, 0.5 * (w_n + w_n.T)",
       "self.nu0 + n - 1, 0.5 * (w_n + w_n.T)", [NWT, NWD] + BPMF_TESTS,
       "Normal-Wishart: nu_N = nu0 + N - 1 (wrong degrees of freedom)"),
    _m("nw_mean_wrong_count", NW, "mu_n = (self.beta0 * self.mu0 + n * xbar) / beta_n",
       "mu_n = (self.beta0 * self.mu0 + n * xbar) / n", [NWT, NWD] + BPMF_TESTS,
       "Normal-Wishart: posterior mean divided by N instead of beta0 + N"),
    _m("nw_scatter_shrinkage", NW, "(self.beta0 * n / beta_n) * (d @ d.T)",
       "(self.beta0 / beta_n) * (d @ d.T)", [NWT, NWD] + BPMF_TESTS,
       "Normal-Wishart: mean-offset term without the factor N"),
    _m("bartlett_df", NW, "rng.chisquare(df - np.arange(k))",
       "rng.chisquare(df - np.arange(k) - 1)", [NWT, NWD] + BPMF_TESTS,
       "Bartlett: chi2(nu - i - 1) on the diagonal (off by one)"),
    _m("bartlett_offdiag_5pct", NW, "a[low] = rng.standard_normal(len(low[0]))",
       "a[low] = 1.025 * rng.standard_normal(len(low[0]))", [NWT, NWD] + BPMF_TESTS,
       "Bartlett: off-diagonal normals with 5% too much variance"),
    _m("nw_mu_without_beta", NW, "chol = np.linalg.cholesky(self.beta0 * lam)",
       "chol = np.linalg.cholesky(lam)", [NWT, NWD] + BPMF_TESTS,
       "Normal-Wishart draw: mu ~ N(mu0, Lambda^-1) without beta"),
    # ------------------------------------------------------------------ Dirichlet
    _m("dirichlet_sparse_eps_on_observed", DIRICHLET, "rng.standard_gamma(c.data)",
       "rng.standard_gamma(c.data + self.epsilon)", [DIRT, MARKT, PRT],
       "sparse Dirichlet draw: prior concentration added to observed entries too"),
    _m("dirichlet_sparse_mass_fixed", DIRICHLET,
       "prior_mass = rng.standard_gamma(np.full(self.n_rows, self.epsilon * self.n_cols))",
       "prior_mass = np.full(self.n_rows, self.epsilon * self.n_cols)", [DIRT, MARKT, PRT],
       "sparse Dirichlet draw: prior mass at its mean (no variance)"),
    _m("dirichlet_sparse_mass_observed_only", DIRICHLET,
       "rng.standard_gamma(np.full(self.n_rows, self.epsilon * self.n_cols))",
       "rng.standard_gamma(self.epsilon * (self.n_cols - np.diff(c.indptr)))",
       [DIRT, MARKT, PRT],
       "sparse Dirichlet draw: prior mass of the unobserved cells only (smoothing off the data)"),
    _m("dirichlet_mean_observed_only", DIRICHLET,
       "prior_mass = np.full(self.n_rows, self.epsilon * self.n_cols)\n        return",
       "prior_mass = self.epsilon * np.diff(self.counts.indptr).astype(float)\n        return",
       [DIRT, MARKT, PRT], "Dirichlet mean: smoothing on observed cells only"),
    _m("dirichlet_dense_laplace", DIRICHLET, "return self.counts[idx].toarray() + self.epsilon",
       "return self.counts[idx].toarray() + 1.0", [DIRT, MARKT, PRT],
       "dense Dirichlet draw: add-one smoothing whatever epsilon"),
    _m("dirichlet_evidence_norm", DIRICHLET, "- gammaln(self.totals + eps * v)",
       "- gammaln(self.totals + eps)", [DIRT, MARKT, PRT],
       "Dirichlet evidence: normaliser with eps instead of eps V"),
    # ------------------------------------------------------------------ Beta / Thompson
    _m("beta_update_swapped", BETA, "return a + s, b + f", "return a + f, b + s",
       [BETAT, RANKT, BANDT], "Beta update: successes and failures swapped"),
    _m("beta_var_formula", BETA, "return a * b / (n * n * (n + 1.0))",
       "return a * b / (n * n * n)", [BETAT, RANKT, BANDT],
       "Beta variance without the + 1"),
    _m("beta_draws_prior_twice", BETA, "return rng.beta(a, b, size=size)",
       "return rng.beta(a + 1.0, b + 1.0, size=size)", [BETAT, RANKT, BANDT],
       "Beta draws: uniform prior counted twice"),
    _m("ranker_thompson_by_mean", "bayesrec/ranking.py",
       "if method == \"thompson\":\n            return self.sample(rng)",
       "if method == \"thompson\":\n            return self.posterior_mean()",
       [BETAT, RANKT], "Thompson ranking by the posterior mean"),
    _m("bandit_thompson_by_mean", "bayesrec/bandits/policies.py",
       "theta = rng.beta(alpha, beta)\n",
       "theta = alpha / (alpha + beta) + 0 * rng.random(np.shape(alpha))\n", [BANDT],
       "Thompson bandit by the posterior mean"),
    _m("bandit_thompson_swapped", "bayesrec/bandits/policies.py",
       "thompson_select(self.a + successes, self.b + (pulls - successes), rng)",
       "thompson_select(self.a + successes, self.b + pulls, rng)", [BANDT],
       "Thompson bandit: pulls counted as failures"),
    _m("smoothed_average_weight", "bayesrec/ranking.py",
       "return _out((total + lam * mu0) / denom)", "return _out((total + mu0) / denom)",
       [RANKT], "smoothed average: prior mean not weighted by lambda"),
    # ------------------------------------------------------------------ HPF Gibbs
    _m("hpf_xi_shape", HPF, "p.a_prime + p.rank * p.a, p.a_prime / p.b_prime",
       "p.a_prime + p.a, p.a_prime / p.b_prime", HPF_TESTS,
       "HPF: xi | theta shape without the factor K"),
    _m("hpf_eta_rate", HPF, "p.c_prime / p.d_prime + beta.sum(1)", "p.c_prime + beta.sum(1)",
       HPF_TESTS, "HPF: eta | beta rate c' instead of c'/d'"),
    _m("hpf_scale_p_sign", HPF, "p = theta.shape[0] * prior.a - beta.shape[0] * prior.c",
       "p = beta.shape[0] * prior.c - theta.shape[0] * prior.a", HPF_TESTS,
       "HPF scale move: Jacobian exponent with the wrong sign"),
    _m("hpf_beta_stale_theta", HPF, "state[\"eta\"][:, None] + theta.sum(0)[None, :]",
       "state[\"eta\"][:, None] + state[\"theta\"].sum(0)[None, :]", HPF_TESTS,
       "HPF: beta conditional on the previous sweep's theta"),
    _m("hpf_eta_shape_uses_a", HPF, "p.c_prime + p.rank * p.c, p.c_prime / p.d_prime",
       "p.c_prime + p.rank * p.a, p.c_prime / p.d_prime", HPF_TESTS,
       "HPF: eta | beta shape c' + K a instead of c' + K c (right only when a = c)"),
    _m("hpf_xi_rate_stale_theta", HPF, "p.a_prime / p.b_prime + theta.sum(1)",
       "p.a_prime / p.b_prime + state[\"theta\"].sum(1)", HPF_TESTS,
       "HPF: xi conditional on the previous sweep's theta"),
    _m("hpf_scale_A_without_xi", HPF, "A = xi @ theta", "A = theta.sum(0)", HPF_TESTS,
       "HPF scale move: GIG's A = sum_u theta_uk without the activities xi_u"),
    _m("hpf_gig_proposal_too_wide", HPF,
       "t = mm + rng.standard_normal(len(todo)) / np.sqrt(2.0 * cc)",
       "t = mm + rng.standard_normal(len(todo)) / np.sqrt(cc)", HPF_TESTS,
       "HPF scale move: rejection proposal twice as wide as the envelope it is accepted against"),
    _m("hpf_scale_theta_5pct", HPF, "theta = np.maximum(theta * s, np.finfo(float).tiny)",
       "theta = np.maximum(1.05 * theta * s, np.finfo(float).tiny)", HPF_TESTS,
       "HPF scale move: theta scaled 5% too much (beta not compensated)"),
    _m("hpf_allocate_cdf_shift", HPF_KERNELS, "while k < K - 1 and cum[k] <= t:",
       "while k < K - 1 and cum[k + 1] <= t:", HPF_TESTS,
       "HPF allocation: inverse CDF compares with the next component's cumulative rate"),
    _m("hpf_allocate_item_scatter", HPF_KERNELS,
       "user_z[u, k] += 1.0\n                slab[i, k] += 1.0",
       "user_z[u, k] += 1.0\n                slab[i, K - 1 - k] += 1.0", HPF_TESTS,
       "HPF allocation: item totals of z scattered to the mirrored component"),
    _m("hpf_loglik_ignores_counts", HPF_KERNELS, "acc += n * np.log(s)", "acc += np.log(s)",
       HPF_TESTS, "HPF Gibbs log-likelihood: y_ui log(rate) without the count y_ui"),
    _m("hpf_log_factorial_from_three", HPF_DATA, "big = yy[yy > 1.0]", "big = yy[yy > 2.0]",
       HPF_TESTS, "HPF log-likelihood constant: log y! skipped for y = 2"),
    _m("hpf_cavi_ks_without_K", HPF_CAVI, "ks = prior.a_prime + K * prior.a",
       "ks = prior.a_prime + prior.a", HPF_CAVI_TESTS,
       "HPF CAVI: shape of q(xi_u) a' + a instead of a' + K a"),
    _m("hpf_cavi_items_stale_users", HPF_CAVI,
       "        update_users(state, prior, user_stat)\n        update_items(state, prior, item_stat)\n"
       "    return state, np.asarray(history), converged",
       "        gs, gr = state.gs, state.gr\n        update_users(state, prior, user_stat)\n"
       "        new = state.gs, state.gr\n        state.gs, state.gr = gs, gr\n"
       "        update_items(state, prior, item_stat)\n        state.gs, state.gr = new\n"
       "    return state, np.asarray(history), converged", HPF_CAVI_TESTS,
       "HPF CAVI (the fit loop): item rates from the users' previous q (Jacobi, not coordinate "
       "ascent)"),
    _m("hpf_cavi_tr_paper_typo", HPF_CAVI,
       "state.tr = prior.c_prime / prior.d_prime + (state.ls / state.lr).sum(1)",
       "state.tr = prior.d_prime + (state.ls / state.lr).sum(1)", HPF_CAVI_TESTS,
       "HPF CAVI: rate of q(eta) d' + ... (the appendix's typo) instead of c'/d' + ..."),
    _m("hpf_elbo_drops_log_y_factorial", HPF_CAVI,
       "lik = lse - data.log_y_factorial - float(", "lik = lse - float(", HPF_CAVI_TESTS,
       "HPF ELBO: the -log y! term dropped"),
    _m("hpf_cavi_eta_shape_from_users", HPF_EST,
       "\"eta_shape_\": np.full(data.n_items, state.ts)",
       "\"eta_shape_\": np.full(data.n_items, state.ks)", HPF_EST_TESTS,
       "HPF CAVI: q(eta)'s shape reported as q(xi)'s (right only when a' + K a = c' + K c)"),
    _m("hpf_cavi_thompson_rate_as_scale", HPF_EST,
       "theta = rng.gamma(self.theta_shape_[users], 1.0 / self.theta_rate_[users])",
       "theta = rng.gamma(self.theta_shape_[users], self.theta_rate_[users])", HPF_EST_TESTS,
       "HPF CAVI Thompson: theta drawn with the rate as the scale"),
    _m("hpf_gibbs_mean_wrong_axis", HPF_EST,
       "tu = np.moveaxis(self.theta_draws_[:, users], 0, 1).reshape(len(users), -1)",
       "tu = self.theta_draws_[:, users].reshape(len(users), -1)", HPF_EST_TESTS,
       "HPF posterior-mean scores: the bank's draw and user axes mixed up"),
    _m("hpf_gibbs_thompson_one_pick", HPF_EST,
       "pick = check_random_state(random_state).integers(len(self.theta_draws_),\n"
       "                                                             size=len(users))",
       "pick = check_random_state(random_state).integers(len(self.theta_draws_),\n"
       "                                                             size=1).repeat(len(users))",
       HPF_EST_TESTS, "HPF Gibbs Thompson: one draw for every user of a call"),
    _m("hpf_traces_first_chain_twice", HPF_EST,
       "traces = {k: np.stack([r.traces[k] for r in results]) for k in results[0].traces}\n"
       "        # each field",
       "traces = {k: np.stack([results[0].traces[k] for r in results]) for k in "
       "results[0].traces}\n        # each field", HPF_EST_TESTS,
       "HPF Gibbs: the posterior holds chain 0's traces for every chain (r_hat = 1 always)"),
    # ------------------------------------------------ fast row draws, weighted MF, Bayesian SVD++
    _m("draw_rows_fast_alpha_in_mean", LINALG, "acc = prior_h[i] + alpha * g[s, i]",
       "acc = prior_h[i] + g[s, i]", ["tests/test_draw_rows_fast.py"],
       "fast row draws: alpha missing from the mean's right-hand side"),
    _m("wmf_activity_shared_part", "bayesrec/factorization/implicit/wmf/_sweep.py",
       "gram[s, q] = a * gram[s, q] + (a - 1.0) * base[q]", "gram[s, q] = a * gram[s, q]",
       ["tests/test_implicit_wmf.py"],
       "weighted MF: activity weight a_u left off the all-cells part V^T V of the precision"),
    # ------------------------------------------------------------------ weighted MF (implicit)
    _m("wmf_confidence_off_by_one", WMF_DATA, "confidence * y[keep],",
       "confidence * (y[keep] - 1.0),", WMF_TESTS,
       "weighted MF: extra confidence c_ui - 1 = confidence (y_ui - 1), off by one count"),
    _m("wmf_item_weights_user_order", WMF_DATA, "self.item_w, self.item_t = w[oi], t[oi]",
       "self.item_w, self.item_t = w[ou], t[oi]", WMF_TESTS,
       "weighted MF: the item side's confidences gathered in the user side's order"),
    _m("wmf_n_cells_counts_inactive", WMF_DATA, "return self.n_active * self.n_items",
       "return self.n_users * self.n_items", WMF_TESTS,
       "weighted MF: users without interactions counted as cells of the likelihood (alpha's "
       "shape)"),
    _m("wmf_alpha_shape_positive_cells", WMF_SWEEP, "prior.alpha_a + 0.5 * data.n_cells",
       "prior.alpha_a + 0.5 * data.n_positive", WMF_TESTS,
       "weighted MF: alpha | S with the positive cells' count instead of all cells"),
    _m("wmf_sweep_sse_no_shared_part", WMF_SWEEP,
       "sse = float(sse_rows.sum()) + float(np.einsum(\"nk,nk->\", x @ base, x))",
       "sse = float(sse_rows.sum())", WMF_TESTS,
       "weighted MF blocked sweep: SSE (alpha's conditional) misses the all-cells part x^T B x"),
    _m("wmf_item_step_unweighted", WMF_SWEEP,
       "xv, sse, j2 = step(*data.item_side_scaled(xu), state.xv, mu_v, lam_v)",
       "xv, sse, j2 = step(data.item_side(), xu, state.xv, mu_v, lam_v)", WMF_TESTS,
       "weighted MF: activity weights applied on the user step only"),
    _m("wmf_crossprod_tail_row", WMF_CROSS, "    while k < n:\n", "    while k < n - 1:\n",
       WMF_TESTS, "weighted MF: B = F^T F misses the last row when n is not a multiple of 4"),
    _m("wmf_thompson_one_pick", WMF_BPMF, "pick = rng.integers(0, s_n, len(users))",
       "pick = np.repeat(rng.integers(0, s_n), len(users))", [WMFT],
       "ImplicitBPMF Thompson: one draw for every user of a call"),
    _m("wmf_mean_over_users_axis", WMF_BPMF,
       "return left @ side_by_side(self, \"bank_item_factors_\").T / s_n",
       "return left @ side_by_side(self, \"bank_item_factors_\").T / bu.shape[1]", [WMFT],
       "ImplicitBPMF posterior mean divided by the bank's user axis instead of its draw axis"),
    _m("wmf_traces_first_chain_twice", WMF_BPMF,
       "traces = {k: np.stack([r.traces[k] for r in results]) for k in results[0].traces}",
       "traces = {k: np.stack([results[0].traces[k] for r in results]) for k in "
       "results[0].traces}", [WMFT],
       "ImplicitBPMF: the posterior holds chain 0's traces for every chain (r_hat = 1 always)"),
    # ------------------------------------------------------------------ draw bank
    _m("bank_chain_draws_reversed", BANK,
       "        draws.reverse()                 # pop from the end: the draws come out in order\n",
       "", [BANKT], "draw bank: each chain's draws stacked last to first"),
    _m("bank_copy_wrong_axis", BANK,
       "cache[name] = np.ascontiguousarray(wide).reshape(len(wide), -1)",
       "cache[name] = np.ascontiguousarray(getattr(owner, name)).reshape(len(wide), -1)",
       [BANKT, WMFT], "draw bank: the side-by-side copy made from the (S, n, K) layout"),
    _m("svdpp_collapse_5pct", "bayesrec/factorization/svdpp_bayes/_sweep.py",
       "s_mat[u, t] = prior_prec[i, j] - acc", "s_mat[u, t] = prior_prec[i, j] - 0.95 * acc",
       ["tests/test_bayesian_svdpp_conditionals.py"],
       "Bayesian SVD++: collapsed bag precision 5% off (own rows integrated out wrongly)"),
    _m("bootstrap_unpaired", "bayesrec/model_selection/_compare.py",
       "means[s:s + m] = d[rng.integers(0, n, (m, n))].mean(axis=1)",
       "means[s:s + m] = (a[rng.integers(0, n, (m, n))] - b[rng.integers(0, n, (m, n))])"
       ".mean(axis=1)",
       ["tests/test_paired_bootstrap.py"],
       "paired bootstrap: users resampled independently for the two models (pairing lost)"),
    _m("per_user_lists_unexcluded", "bayesrec/metrics.py",
       "rec, _ = model.recommend_indices(users, k=n_ask, exclude_seen=True, **options)",
       "rec, _ = model.recommend_indices(users, k=n_ask, exclude_seen=False, **options)",
       ["tests/test_topn_protocol.py"],
       "top-k evaluation: training items not excluded from the evaluated lists"),
    _m("coordinate_noise_scale", "bayesrec/factorization/implicit/wmf/_coordinate.py",
       "noise[k] = 0.0 if mode else z[s, k] * np.sqrt(inv_p[k])",
       "noise[k] = 0.0 if mode else 1.05 * z[s, k] * np.sqrt(inv_p[k])",
       ["tests/test_implicit_wmf.py"],
       "weighted MF single-site sampler: coordinate draw sd 5% too large"),
    _m("coordinate_prior_left_out", "bayesrec/factorization/implicit/wmf/_coordinate.py",
       "own[k, j] = lam[k, j] + a * base[k, j]",
       "own[k, j] = a * base[k, j]",
       ["tests/test_implicit_wmf.py"],
       "weighted MF single-site sampler: the prior precision left out of a weighted row's P"),
    _m("coordinate_sse_unscaled", "bayesrec/factorization/implicit/wmf/_coordinate.py",
       "sse[s] = scale[s] * (quad + cells)", "sse[s] = quad + cells",
       ["tests/test_implicit_wmf.py"],
       "weighted MF single-site sampler: row's squared error without its activity weight"),
]
