# Regenerates tests/data/metafor_reference.json (the numbers tests/test_meta_metafor.py pins).
# Run from the project root:  Rscript tests/reference/make_metafor_reference.R
# Needs R with metafor (Debian: r-cran-metafor; made with metafor 3.8-1) and jsonlite.
# Not run in CI: the JSON it writes is committed. Every value carries the R call that produced it.
suppressPackageStartupMessages({library(metafor); library(jsonlite)})

ctrl <- list(threshold = 1e-12, maxiter = 1000, tol = 1e-12)  # tight REML (threshold) and PM (uniroot tol) convergence so 1e-6 is meaningful
ci_ctrl <- list(tol = 1e-12)                      # tight uniroot tolerance for the Q-profile tau^2 CI
TOL <- "metafor"                                  # every stored value names its tolerance (tolerances$metafor = 1e-6)

num <- function(x) if (is.null(x) || length(x) == 0 || (length(x) == 1 && is.na(x))) NULL else unname(as.numeric(x))

summarise_fit <- function(res, call) {
  pr <- predict(res)
  out <- list(
    call = call, tolerance = TOL,
    method = res$method, hksj = (res$test == "knha"), k = res$k,
    estimate = num(res$beta[1]), se = num(res$se), ci_low = num(res$ci.lb), ci_high = num(res$ci.ub),
    pi_low = num(if (is.null(pr$pi.lb)) pr$ci.lb else pr$pi.lb),
    pi_high = num(if (is.null(pr$pi.ub)) pr$ci.ub else pr$pi.ub),
    tau2 = num(res$tau2), i2 = num(res$I2), h2 = num(res$H2), q = num(res$QE), q_p = num(res$QEp),
    tau2_ci_low = NULL, tau2_ci_high = NULL
  )
  if (res$method != "FE") {
    ci <- confint(res, control = ci_ctrl)
    out$tau2_ci_low <- num(ci$random["tau^2", "ci.lb"])
    out$tau2_ci_high <- num(ci$random["tau^2", "ci.ub"])
    out$confint_call <- "confint(res, control=list(tol=1e-12))"
  }
  out
}

fits <- function(dat, label) {
  models <- list()
  for (m in c("FE", "DL", "REML", "PM")) {
    for (kh in c(FALSE, TRUE)) {
      test <- if (kh) "knha" else "z"
      res <- rma(yi, vi, data = dat, method = m, test = test, control = ctrl)
      call <- sprintf('rma(yi, vi, data=%s, method="%s", test="%s", control=list(threshold=1e-12, maxiter=1000, tol=1e-12)); predict(res)', label, m, test)
      models[[length(models) + 1]] <- summarise_fit(res, call)
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
  sub[[g]] <- list(k = rg$k, estimate = num(rg$beta[1]), se = num(rg$se), tau2 = num(rg$tau2), q = num(rg$QE))
}
qb <- rma(sub_est, sei = sub_se, method = "FE")
subgroup_out <- list(
  tolerance = TOL,
  call = "for each alloc: rma(yi, vi, data=bcg, subset=alloc==g, method='REML'); rma(est, sei=se, method='FE')$QE",
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

out <- list(
  generated_by = "tests/reference/make_metafor_reference.R",
  metafor_version = as.character(packageVersion("metafor")),
  tolerances = list(metafor = 1e-6),
  tolerance_note = "metafor: |python - metafor| <= 1e-6 * max(1, |metafor|) for every value",
  datasets = list(
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
  ),
  models = list(bcg = bcg_models, normand = nor_models, hom = hom_models, same = same_models),
  bcg_leave1out = leave1out_out,
  bcg_cumulative = cumul_out,
  bcg_subgroup_alloc = subgroup_out,
  bcg_egger = egger_out
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", pretty = TRUE), "tests/data/metafor_reference.json")
cat("wrote tests/data/metafor_reference.json\n")
