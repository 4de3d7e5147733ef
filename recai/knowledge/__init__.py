"""Knowledge Plugin (DOKE): domain knowledge selected for a user and written into an LLM's prompt.

    facts          Fact (one sentence of knowledge) and TokenCounter (the target model's tokens)
    attributes     item attributes from the catalog's columns
    collaborative  item-to-item co-occurrence or embedding similarity; a teacher's user-to-item ranks
    graph          reasoning paths (<= 3 hops) in a knowledge graph between history and candidates
    select         the best facts of each kind in turn, within a token budget
    candidates     the target among sampled negatives (random or popularity)
    prompt         KnowledgePlugin: extraction + selection -> a ranking prompt
    parse          the ranking in a reply (JSON array or list, fuzzy-matched to the candidates)
    evaluate       `recai eval knowledge`: the ablation over knowledge kinds
"""
