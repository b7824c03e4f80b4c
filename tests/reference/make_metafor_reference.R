# Regenerates tests/data/metafor_reference.json (the numbers tests/test_meta_metafor.py pins).
# Run from the project root:  Rscript tests/reference/make_metafor_reference.R
# Needs R with metafor (Debian: r-cran-metafor; made with metafor 3.8-1) and jsonlite.
# Not run in CI: the JSON it writes is committed. Every value carries the R call that produced it.
suppressPackageStartupMessages({library(metafor); library(jsonlite)})

ctrl <- list(threshold = 1e-12, maxiter = 1000, tol = 1e-12)  # tight REML (threshold) and PM (uniroot tol) convergence so 1e-6 is meaningful
ci_ctrl <- list(tol = 1e-12)                      # tight uniroot tolerance for the Q-profile tau^2 CI
TOL <- "metafor"                                  # every stored value names its tolerance (tolerances$metafor = 1e-6)

num <- function(x) if (is.null(x) || length(x) == 0 || (length(x) == 1 && is.na(x))) NULL else unname(as.numeric(x))

summarise_fit <- function(res, call, ci_control = ci_ctrl) {
  pr <- predict(res)
  out <- list(
    call = call, tolerance = TOL,
    method = res$method, hksj = is.element(res$test, c("knha", "adhoc")), k = res$k,
    estimate = num(res$beta[1]), se = num(res$se), ci_low = num(res$ci.lb), ci_high = num(res$ci.ub),
    pi_low = num(if (is.null(pr$pi.lb)) pr$ci.lb else pr$pi.lb),
    pi_high = num(if (is.null(pr$pi.ub)) pr$ci.ub else pr$pi.ub),
    tau2 = num(res$tau2), i2 = num(res$I2), h2 = num(res$H2), q = num(res$QE), q_p = num(res$QEp),
    tau2_ci_low = NULL, tau2_ci_high = NULL
  )
  if (res$test == "adhoc") out$hksj_adhoc <- TRUE  # only on the test="adhoc" fits (the knha/z entries stay as they were)
  if (res$method != "FE") {
    ci <- suppressMessages(confint(res, control = ci_control))
    out$tau2_ci_low <- num(ci$random["tau^2", "ci.lb"])
    out$tau2_ci_high <- num(ci$random["tau^2", "ci.ub"])
    out$confint_call <- if (is.null(ci_control$tau2.max)) "confint(res, control=list(tol=1e-12))" else
      sprintf("confint(res, control=list(tol=1e-12, tau2.max=%g))", ci_control$tau2.max)
  }
  out
}

fits <- function(dat, label, ci_control = ci_ctrl) {
  models <- list()
  for (m in c("FE", "DL", "REML", "PM")) {
    for (kh in c(FALSE, TRUE)) {
      test <- if (kh) "knha" else "z"
      res <- rma(yi, vi, data = dat, method = m, test = test, control = ctrl)
      call <- sprintf('rma(yi, vi, data=%s, method="%s", test="%s", control=list(threshold=1e-12, maxiter=1000, tol=1e-12)); predict(res)', label, m, test)
      models[[length(models) + 1]] <- summarise_fit(res, call, ci_control)
    }
  }
  models
}

# ---- dat.bcg: log risk ratios -------------------------------------------------------------
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg_models <- fits(bcg, "bcg")

res <- rma(yi, vi, data = bcg, method = "REML", control = ctrl)
l1o <- leave1out(res)  # refits inherit the control settings of res
leave1out_out <- list(
  tolerance = TOL,
  call = "leave1out(rma(yi, vi, data=bcg, method='REML', control=list(threshold=1e-12, maxiter=1000, tol=1e-12)))",
  estimate = num(l1o$estimate), se = num(l1o$se), tau2 = num(l1o$tau2), i2 = num(l1o$I2), q = num(l1o$Q)
)
cum <- cumul(res, order = bcg$year)
cumul_out <- list(
  tolerance = TOL,
  call = "cumul(rma(yi, vi, data=bcg, method='REML', control=ctrl), order=bcg$year)",
  order_trial = num(bcg$trial[order(bcg$year)]),
  estimate = num(cum$estimate), se = num(cum$se), tau2 = num(cum$tau2)
)
# subgroup by allocation: a separate REML model per group, then Q-between = Q of a fixed-effect
# model of the group estimates (the RevMan / metafor "separate tau^2" approach)
groups <- sort(unique(as.character(bcg$alloc)))
sub_est <- c(); sub_se <- c(); sub <- list()
for (g in groups) {
  rg <- rma(yi, vi, data = bcg, subset = (alloc == g), method = "REML", control = ctrl)
  sub_est <- c(sub_est, rg$beta[1]); sub_se <- c(sub_se, rg$se)
  sub[[g]] <- list(k = rg$k, estimate = num(rg$beta[1]), se = num(rg$se), tau2 = num(rg$tau2), q = num(rg$QE), test_se = num(rg$se))
}
qb <- rma(sub_est, sei = sub_se, method = "FE")
subgroup_out <- list(
  tolerance = TOL,
  call = "for each alloc: rma(yi, vi, data=bcg, subset=alloc==g, method='REML'); rma(est, sei=se, method='FE')$QE  # test='z': the Wald se shown is the test's se",
  groups = sub, q_between = num(qb$QE), df = length(groups) - 1, p = num(qb$QEp)
)
eg <- regtest(res, model = "lm")
egger_out <- list(tolerance = TOL, call = "regtest(rma(yi, vi, data=bcg), model='lm')", t = num(eg$zval), p = num(eg$pval), df = num(eg$dfs))

# ---- dat.normand1999: standardized mean differences (Hedges' g) ------------------------------
nor <- escalc(measure = "SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat.normand1999)
nor_models <- fits(nor, "nor")
md <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat.normand1999)

# ---- SMD from t statistics and from two-sided p values ---------------------------------------
tdat <- data.frame(ti = c(2.5, -1.2, 0.4), n1i = c(20, 35, 12), n2i = c(22, 30, 12))
smd_t <- escalc(measure = "SMD", ti = ti, n1i = n1i, n2i = n2i, data = tdat)

# ---- 2x2 tables, with and without a zero cell ------------------------------------------------
tab <- data.frame(ai = c(10, 0, 4), bi = c(5, 15, 16), ci = c(3, 3, 4), di = c(12, 12, 16))
two <- list()
for (m in c("OR", "RR", "RD")) {
  e <- escalc(measure = m, ai = ai, bi = bi, ci = ci, di = di, data = tab)
  two[[m]] <- list(tolerance = TOL, call = sprintf('escalc(measure="%s", ai, bi, ci, di, data=tab)  # add=1/2, to="only0"', m), yi = num(e$yi), vi = num(e$vi))
}

# ---- tau^2 = 0 and identical studies ------------------------------------------------------------
hom <- data.frame(yi = c(0.1, 0.12, 0.11, 0.09), vi = c(0.04, 0.05, 0.03, 0.06))
hom_models <- fits(hom, "hom")
same <- data.frame(yi = c(0.3, 0.3, 0.3), vi = c(0.02, 0.02, 0.02))
same_models <- fits(same, "same")

# ---- synthetic cases (hand-made, not from a paper): k = 2, 3, 5, 7; tau^2 = 0 and > 0; zero cells;
# SMD from exact p values; Knapp-Hartung leave-one-out, cumulative and 2-vs-3 subgroups (and subgroups with a Knapp-Hartung
# example and with studies of no reported subgroup); Egger at k = 10.
# Their tau^2 CIs use tau2.max = 1e6: metafor's confint stops the Q-profile search at
# max(100, 10 * tau^2) and prints the bound as ">100"; livingreview returns the root itself.
syn_ci_ctrl <- list(tol = 1e-12, tau2.max = 1e6)
syn_means <- data.frame(m1i = c(10.2, 22.5, 5.1), sd1i = c(3.1, 8.4, 2.2), n1i = c(5, 40, 12),
                        m2i = c(12.9, 18.0, 5.0), sd2i = c(4.0, 7.9, 1.5), n2i = c(6, 38, 9))
syn_smd <- escalc(measure = "SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = syn_means)
# an exact two-sided p with the sign of intervention minus control -> t with n1 + n2 - 2 df -> escalc (3.8 has no pi=)
syn_p <- data.frame(p = c(0.0123, 0.47, 0.0004), sgn = c(-1, 1, -1), n1i = c(11, 25, 30), n2i = c(9, 24, 31))
syn_p$ti <- syn_p$sgn * qt(syn_p$p / 2, syn_p$n1i + syn_p$n2i - 2, lower.tail = FALSE)
syn_smd_p <- escalc(measure = "SMD", ti = ti, n1i = n1i, n2i = n2i, data = syn_p)
# 2x2: both arms 0 events (kept, as escalc's default drop00=FALSE), one arm 0, one arm all events, no zero cell
syn_tab <- data.frame(ai = c(0, 0, 12, 7), n1i = c(20, 15, 12, 30), ci = c(0, 4, 7, 12), n2i = c(22, 15, 13, 31))
syn_two <- list()
for (m in c("OR", "RR", "RD")) {
  e <- escalc(measure = m, ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = syn_tab)
  syn_two[[m]] <- list(tolerance = TOL, call = sprintf('escalc(measure="%s", ai, n1i, ci, n2i, data=syn_tab)  # add=1/2, to="only0", drop00=FALSE', m),
                       yi = num(e$yi), vi = num(e$vi))
}
syn7 <- escalc(measure = "SMD", m1i = c(20, 18, 25, 30, 15, 22, 19), sd1i = c(6, 5, 9, 10, 4, 7, 6), n1i = c(12, 30, 8, 45, 20, 15, 60),
               m2i = c(24, 21, 26, 38, 20, 22.5, 23), sd2i = c(7, 6, 8, 11, 5, 6, 7), n2i = c(11, 28, 9, 44, 22, 15, 58))
syn_data <- list(
  syn_k2_het = data.frame(yi = c(0.2, 0.95), vi = c(0.03, 0.05)),
  syn_k2_hom = data.frame(yi = c(0.2, 0.25), vi = c(0.03, 0.05)),
  syn_k3 = data.frame(yi = c(-0.4, 0.1, 0.6), vi = c(0.02, 0.08, 0.05)),
  syn_k7_smd = data.frame(yi = num(syn7$yi), vi = num(syn7$vi)),
  syn_k4_log_or_zero_cells = data.frame(yi = num(syn_two$OR$yi), vi = num(syn_two$OR$vi)),
  syn_k5_subgroups = data.frame(yi = c(0.1, 0.3, 0.8, 1.1, 0.5), vi = c(0.04, 0.05, 0.03, 0.06, 0.02)),
  syn_k4_md_large_tau2 = data.frame(yi = c(-12, 3, -25, 8), vi = c(4, 6, 5, 9)),
  syn_k2_near = data.frame(yi = c(0.30, 0.31), vi = c(0.1, 0.1))
)
syn_calls <- c(syn_k2_het = "data.frame(yi=c(0.2, 0.95), vi=c(0.03, 0.05))", syn_k2_hom = "data.frame(yi=c(0.2, 0.25), vi=c(0.03, 0.05))",
               syn_k3 = "data.frame(yi=c(-0.4, 0.1, 0.6), vi=c(0.02, 0.08, 0.05))", syn_k7_smd = 'escalc(measure="SMD", ...seven hand-made studies...)',
               syn_k4_log_or_zero_cells = 'escalc(measure="OR", ai, n1i, ci, n2i, data=syn_tab)',
               syn_k5_subgroups = "data.frame(yi=c(0.1, 0.3, 0.8, 1.1, 0.5), vi=c(0.04, 0.05, 0.03, 0.06, 0.02))",
               syn_k4_md_large_tau2 = "data.frame(yi=c(-12, 3, -25, 8), vi=c(4, 6, 5, 9))",
               syn_k2_near = "data.frame(yi=c(0.30, 0.31), vi=c(0.1, 0.1))")
syn_inputs <- lapply(names(syn_data), function(nm) list(tolerance = TOL, call = paste(syn_calls[[nm]], " # synthetic input"),
                                                        yi = num(syn_data[[nm]]$yi), vi = num(syn_data[[nm]]$vi)))
names(syn_inputs) <- names(syn_data)
syn_models <- list()
for (nm in names(syn_data)) syn_models[[nm]] <- fits(syn_data[[nm]], nm, syn_ci_ctrl)
syn_years <- c(2015, 2012, 2018, 2012, 2020, 2016, 2019)  # with a tie (2012): input order kept
syn_l1o <- list(); syn_cum <- list()
for (spec in list(c("REML", "knha"), c("PM", "z"))) {
  key <- paste(spec, collapse = "_")
  res <- rma(yi, vi, data = syn_data$syn_k7_smd, method = spec[1], test = spec[2], control = ctrl)
  l <- leave1out(res); cu <- cumul(res, order = syn_years)
  syn_l1o[[key]] <- list(tolerance = TOL, call = sprintf("leave1out(rma(yi, vi, data=syn_k7_smd, method='%s', test='%s', control=ctrl))", spec[1], spec[2]),
                         method = spec[1], hksj = spec[2] == "knha", estimate = num(l$estimate), se = num(l$se), ci_low = num(l$ci.lb),
                         ci_high = num(l$ci.ub), tau2 = num(l$tau2), i2 = num(l$I2), q = num(l$Q), p = num(l$pval))
  syn_cum[[key]] <- list(tolerance = TOL, call = sprintf("cumul(rma(yi, vi, data=syn_k7_smd, method='%s', test='%s', control=ctrl), order=syn_years)", spec[1], spec[2]),
                         method = spec[1], hksj = spec[2] == "knha", year = syn_years, estimate = num(cu$estimate), se = num(cu$se),
                         ci_low = num(cu$ci.lb), ci_high = num(cu$ci.ub), tau2 = num(cu$tau2), i2 = num(cu$I2))
}
# Subgroups: each subgroup fitted as the analysis is (method, test: its estimate, se and CI are what is shown);
# the test for subgroup differences is Q of a fixed-effect model of the subgroup estimates with their Wald (test="z")
# se, tau^2 by the same method within each subgroup (RevMan; Cochrane Handbook 10.11.3.1). Under Knapp-Hartung the
# shown se is not the test's se: the Q from the shown (knha/adhoc) se is stored only for contrast. A subgroup of one
# study is that study: yi with se sqrt(vi) and a normal CI. Studies with no subgroup value (NA) are shown as their
# own subgroup (same fit) and are left out of the test.
sub_fit <- function(d, grp, method, test, label) {
  reported <- sort(unique(grp[!is.na(grp)]))
  est <- c(); test_se <- c(); shown_se <- c(); g <- list()
  fit_one <- function(rows) {
    if (sum(rows) == 1) {
      yi <- d$yi[rows]; se <- sqrt(d$vi[rows])
      return(list(shown = list(k = 1, estimate = yi, se = se, ci_low = yi - qnorm(0.975) * se, ci_high = yi + qnorm(0.975) * se,
                               tau2 = NULL, i2 = NULL, q = NULL), test_se = se))
    }
    rg <- rma(yi, vi, data = d, subset = rows, method = method, test = test, control = ctrl)
    rz <- rma(yi, vi, data = d, subset = rows, method = method, test = "z", control = ctrl)
    stopifnot(abs(rz$beta[1] - rg$beta[1]) < 1e-12)  # the test changes only the se, not the estimate
    list(shown = list(k = rg$k, estimate = num(rg$beta[1]), se = num(rg$se), ci_low = num(rg$ci.lb), ci_high = num(rg$ci.ub),
                      tau2 = num(rg$tau2), i2 = num(rg$I2), q = num(rg$QE)), test_se = num(rz$se))
  }
  for (s in reported) {
    f <- fit_one(!is.na(grp) & grp == s)
    est <- c(est, f$shown$estimate); test_se <- c(test_se, f$test_se); shown_se <- c(shown_se, f$shown$se)
    g[[s]] <- c(f$shown, list(test_se = f$test_se, in_test = TRUE))
  }
  not_reported <- NULL
  if (any(is.na(grp))) {
    f <- fit_one(is.na(grp))
    not_reported <- c(f$shown, list(in_test = FALSE))
  }
  qb <- rma(est, sei = test_se, method = "FE")
  out <- list(
    tolerance = TOL, method = method, hksj = test %in% c("knha", "adhoc"), hksj_adhoc = test == "adhoc", groups_of_studies = grp,
    call = sprintf("for each reported g: rma(yi, vi, data=%s, subset=grp==g, method='%s', test='%s') (shown) and test='z' (test se); rma(est, sei=se_z, method='FE')$QE",
                   label, method, test),
    groups = g, not_reported = not_reported, q_between = num(qb$QE), df = length(reported) - 1, p = num(qb$QEp))
  if (test != "z") {
    old <- rma(est, sei = shown_se, method = "FE")  # the Knapp-Hartung se in a chi^2 Q: not used (anti-conservative)
    out$q_between_from_shown_se_not_used <- num(old$QE); out$p_from_shown_se_not_used <- num(old$QEp)
  }
  out
}
syn_groups <- c("a", "a", "b", "b", "b")
syn_sub <- list()
for (spec in list(c("REML", "z"), c("REML", "knha"), c("REML", "adhoc"), c("PM", "knha"), c("DL", "z"))) {
  d <- syn_data$syn_k5_subgroups
  key <- paste(spec, collapse = "_")
  syn_sub[[key]] <- sub_fit(d, syn_groups, spec[1], spec[2], "syn_k5_subgroups")
  # for contrast only: one common tau^2 (mods) gives another Q-between; livingreview follows the separate-tau^2 approach
  common_fit <- rma(yi, vi, mods = ~ factor(syn_groups), data = d, method = spec[1], test = spec[2], control = ctrl)
  syn_sub[[key]]$common_tau2_qm_not_used <- num(common_fit$QM)
}
# the statistician's example: Knapp-Hartung subgroup CIs -1.53 to 2.26 and -0.27 to 2.25, yet Q from their se = 12.06 (p = 0.0005)
syn_sub_kh <- data.frame(yi = c(0.2, 0.9, 0.5, 1.1), vi = c(0.05, 0.08, 0.04, 0.1))
syn_sub_kh_groups <- c("AC", "BD", "AC", "BD")
syn_sub_knha <- list()
for (spec in list(c("REML", "knha"), c("REML", "adhoc"), c("REML", "z"))) {
  syn_sub_knha[[paste(spec, collapse = "_")]] <- c(list(yi = syn_sub_kh$yi, vi = syn_sub_kh$vi),
                                                    sub_fit(syn_sub_kh, syn_sub_kh_groups, spec[1], spec[2], "syn_sub_kh"))
}
# studies with no subgroup value (NA): shown as their own subgroup, not in the test; a reported subgroup of one study
syn_sub_na_dat <- data.frame(yi = c(0.1, 0.3, 0.8, 1.1, 0.5, 1.4, 1.6, -0.2), vi = c(0.04, 0.05, 0.03, 0.06, 0.02, 0.05, 0.07, 0.03))
syn_sub_na_groups <- c("a", "a", "b", "b", "b", NA, NA, "c")
syn_sub_na <- list()
for (spec in list(c("REML", "adhoc"), c("REML", "knha"), c("REML", "z"))) {
  syn_sub_na[[paste(spec, collapse = "_")]] <- c(list(yi = syn_sub_na_dat$yi, vi = syn_sub_na_dat$vi),
                                                  sub_fit(syn_sub_na_dat, syn_sub_na_groups, spec[1], spec[2], "syn_sub_na"))
}
syn_eg_dat <- data.frame(yi = c(0.9, 0.7, 0.55, 0.6, 0.3, 0.45, 0.2, 0.25, 0.1, 0.15),
                         vi = c(0.20, 0.15, 0.12, 0.09, 0.06, 0.05, 0.03, 0.025, 0.015, 0.01))
syn_eg <- regtest(rma(yi, vi, data = syn_eg_dat, control = ctrl), model = "lm")
syn_egger <- list(tolerance = TOL, call = "regtest(rma(yi, vi, data=syn_eg_dat), model='lm')", yi = syn_eg_dat$yi, vi = syn_eg_dat$vi,
                  t = num(syn_eg$zval), p = num(syn_eg$pval), df = num(syn_eg$dfs), limit_estimate = num(syn_eg$est))

# ---- Knapp-Hartung with the ad hoc correction (test="adhoc"; Knapp & Hartung 2003, Roever, Knapp & Friede 2015):
# the HKSJ scaling factor s2w = sum(w (y - est)^2) / (k - 1) is replaced by max(1, s2w), so the CI is never narrower
# than the Wald random-effects CI (apart from t(k-1) in place of z). bcg (s2w > 1: equal to knha), syn_k2_near
# (two studies that nearly agree: s2w << 1, knha collapses) and same (identical studies: knha se = 0).
adhoc_fits <- function(dat, label, methods, ci_control = ci_ctrl) {
  lapply(methods, function(m) {
    res <- rma(yi, vi, data = dat, method = m, test = "adhoc", control = ctrl)
    summarise_fit(res, sprintf('rma(yi, vi, data=%s, method="%s", test="adhoc", control=list(threshold=1e-12, maxiter=1000, tol=1e-12)); predict(res)', label, m),
                  ci_control)
  })
}
adhoc_models <- list(
  bcg = adhoc_fits(bcg, "bcg", c("REML", "DL")),
  syn_k2_near = adhoc_fits(syn_data$syn_k2_near, "syn_k2_near", c("REML", "DL"), syn_ci_ctrl),
  same = adhoc_fits(same, "same", c("REML"))
)

out <- list(
  generated_by = "tests/reference/make_metafor_reference.R",
  metafor_version = as.character(packageVersion("metafor")),
  tolerances = list(metafor = 1e-6),
  tolerance_note = "metafor: |python - metafor| <= 1e-6 * max(1, |metafor|) for every value",
  datasets = c(list(
    bcg = list(tolerance = TOL, call = 'escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)',
               trial = num(bcg$trial), year = num(bcg$year), alloc = as.character(bcg$alloc),
               tpos = num(bcg$tpos), tneg = num(bcg$tneg), cpos = num(bcg$cpos), cneg = num(bcg$cneg),
               yi = num(bcg$yi), vi = num(bcg$vi)),
    normand = list(tolerance = TOL, call = 'escalc(measure="SMD", m1i, sd1i, n1i, m2i, sd2i, n2i, data=dat.normand1999)',
                   m1i = num(nor$m1i), sd1i = num(nor$sd1i), n1i = num(nor$n1i),
                   m2i = num(nor$m2i), sd2i = num(nor$sd2i), n2i = num(nor$n2i),
                   yi = num(nor$yi), vi = num(nor$vi),
                   md_call = 'escalc(measure="MD", ...same arguments...)', md_yi = num(md$yi), md_vi = num(md$vi)),
    smd_from_t = list(tolerance = TOL, call = 'escalc(measure="SMD", ti=ti, n1i=n1i, n2i=n2i, data=tdat)',
                      ti = num(tdat$ti), n1i = num(tdat$n1i), n2i = num(tdat$n2i), yi = num(smd_t$yi), vi = num(smd_t$vi)),
    two_by_two = c(list(ai = num(tab$ai), bi = num(tab$bi), ci = num(tab$ci), di = num(tab$di)), two),
    hom = list(call = 'data.frame(yi=c(0.1, 0.12, 0.11, 0.09), vi=c(0.04, 0.05, 0.03, 0.06))  # input, tau^2 = 0 case', yi = hom$yi, vi = hom$vi),
    same = list(call = 'data.frame(yi=c(0.3, 0.3, 0.3), vi=c(0.02, 0.02, 0.02))  # input, identical studies', yi = same$yi, vi = same$vi)
  ), syn_inputs),
  models = c(list(bcg = bcg_models, normand = nor_models, hom = hom_models, same = same_models), syn_models),
  synthetic = list(
    smd_means = c(as.list(syn_means), list(tolerance = TOL, call = 'escalc(measure="SMD", m1i, sd1i, n1i, m2i, sd2i, n2i, data=syn_means)',
                                           yi = num(syn_smd$yi), vi = num(syn_smd$vi))),
    smd_exact_p = c(as.list(syn_p), list(tolerance = TOL, call = 'escalc(measure="SMD", ti=sgn*qt(p/2, n1i+n2i-2, lower.tail=FALSE), n1i, n2i, data=syn_p)',
                                         yi = num(syn_smd_p$yi), vi = num(syn_smd_p$vi))),
    two_by_two_zero_cells = c(as.list(syn_tab), syn_two),
    leave1out = syn_l1o, cumulative = syn_cum, subgroups = syn_sub, subgroups_knha_example = syn_sub_knha,
    subgroups_not_reported = syn_sub_na, egger = syn_egger
  ),
  bcg_leave1out = leave1out_out,
  bcg_cumulative = cumul_out,
  bcg_subgroup_alloc = subgroup_out,
  bcg_egger = egger_out,
  models_adhoc = adhoc_models
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", pretty = TRUE), "tests/data/metafor_reference.json")
cat("wrote tests/data/metafor_reference.json\n")
