"""RecLM-gen: a language model that recommends catalog items directly, tuned with SFT and PPO.

    tasks       SFT data from interactions and a teacher recommender (next items, candidate ranking,
                category, category mix and count control, general chat)
    grounding   names in generated text -> catalog items, with invalid / repeat / in-history /
                over-count flags
    constrain   catalog-constrained decoding: a token trie of titles as a logits processor
    rewards     RecLM-gen's per-item and per-list rewards, placed on tokens
    train       the PPO reward function over task examples
    evaluate    `recai eval gen`: NDCG@10, Recall@10, invalid / repeat rates, count and category control
"""
