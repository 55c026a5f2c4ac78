"""Result objects hold their own data: they pickle, and a change to the caller's arrays
after the call does not change them."""

import pickle

import divergent as dv
import numpy as np
import pytest
from divergent import metrics


@pytest.fixture
def xy():
    rng = np.random.default_rng(3)
    return rng.normal(size=(40, 3)), rng.normal(size=(30, 3)) + 0.3


RESULTS = {
    "sinkhorn": lambda x, y: dv.ot.sinkhorn(x, y, epsilon=0.5),
    "sinkhorn_from_cost": lambda x, y: dv.ot.sinkhorn_from_cost(((x[:, None] - y[None]) ** 2).sum(-1), epsilon=0.5),
    "mmd_test": lambda x, y: dv.mmd_test(x, y, n_permutations=50, seed=0),
    "emd": lambda x, y: dv.ot.emd([], [], ((x[:, None] - y[None]) ** 2).sum(-1)),
    "mmd_agg_test": lambda x, y: dv.mmd_agg_test(x, y, n_permutations=50, seed=0),
    "ksd_test": lambda x, y: dv.ksd_test(x, lambda z: -z, n_bootstrap=50, seed=0),
    "langevin": lambda x, y: dv.langevin(
        dv.targets.Gaussian(np.zeros(2), np.eye(2)), n_chains=2, n_steps=20, step_size=0.1, seed=0
    ),
    "feature_stats": lambda x, y: metrics.FeatureStats().update(x),
    "kid": lambda x, y: metrics.kid(x, y, n_subsets=5, subset_size=20, seed=0),
    "prdc": lambda x, y: metrics.prdc(x, y, k=3),
    "kl_stats": lambda x, y: dv.logits.KLStats().update(x[:30], y),
    "kl_report": lambda x, y: dv.logits.KLStats().update(x[:30], y).report(),
    "agreement": lambda x, y: dv.logits.agreement(x[:30], y),
}


@pytest.mark.parametrize("name", list(RESULTS))
def test_every_result_pickles(xy, name):
    res = RESULTS[name](*xy)
    back = pickle.loads(pickle.dumps(res))
    assert type(back) is type(res)
    if name.startswith("sinkhorn"):
        assert back.cost == res.cost and np.array_equal(back.plan(), res.plan())
    if name == "kl_stats":
        assert back.report() == res.report()


def test_the_plan_does_not_follow_the_callers_arrays(xy):
    x, y = (np.array(a) for a in xy)
    res = dv.ot.sinkhorn(x, y, epsilon=0.5)
    c = ((x[:, None] - y[None]) ** 2).sum(-1)
    res_c = dv.ot.sinkhorn_from_cost(c, epsilon=0.5)
    plans = res.plan(), res_c.plan()
    x += 10.0
    y *= -3.0
    c[:] = 0.0
    assert np.array_equal(res.plan(), plans[0]) and np.array_equal(res_c.plan(), plans[1])
    assert np.array_equal(res_c.plan(), plans[1])  # plan() does not consume what it reads
    assert np.allclose(plans[0].sum(), 1.0) and np.allclose(plans[0], plans[1], rtol=1e-9, atol=1e-15)
