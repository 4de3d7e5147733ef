"""BPR-MF learns a planted cluster structure that popularity cannot see."""
import torch

from recai.recsys import BPRMF, Popularity, evaluate_model


def test_bpr_mf_learns_user_clusters(clustered_split):
    model = BPRMF(dim=16).fit(clustered_split.train, clustered_split.valid, epochs=60, batch_size=64, lr=0.02,
                              patience=60, device="cpu")
    ndcg = evaluate_model(model, clustered_split.test)["ndcg@10"]
    pop = evaluate_model(Popularity().fit(clustered_split.train), clustered_split.test)["ndcg@10"]
    # The test item is one of the 3 unseen items of the user's 10-item cluster: a model that learned
    # the clusters ranks it in the top 3 of 33 candidates (NDCG@10 >= 0.5); chance is about 0.15.
    assert ndcg > 0.45 and ndcg > 2 * pop, (ndcg, pop)


def test_scores_are_user_item_dot_products(clustered_split):
    model = BPRMF(dim=4).fit(clustered_split.train, epochs=1, device="cpu")
    u, i = model.net.user_emb.weight, model.net.item_emb.weight
    torch.testing.assert_close(model.score([3, 7]), u[[3, 7]] @ i.T)
    assert model.report.best_epoch is None and len(model.report.epochs) == 1  # no validation, no stopping
