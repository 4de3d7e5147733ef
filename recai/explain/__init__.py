"""RecExplainer: a language model aligned to a recommender, explaining what it recommends.

    target      the recommender being explained (SASRec or BPR-MF): scores, user and item vectors
    tasks       alignment data from its behaviour, in behaviour / intention / hybrid modes
    projector   the 2-layer MLP projector and the <user> / <item> slot embeddings; save and load
    train       slot-aware encoding and the SFT task that feeds vectors to the slots
    evaluate    fidelity: Hit@1/10 against the target's top items, ranking NDCG, classification
                accuracy, history recall
"""
