"""Phrasings of the RecLM-emb queries: several per task, picked at random, so the encoder learns the
intent rather than one sentence pattern. `{}` fields are filled by recai.emb.tasks."""

HISTORY_NEXT = [
    "I recently watched {history}. What should I watch next?",
    "My last few picks: {history}. Recommend the next one.",
    "After {history}, what comes next for me?",
    "Watched {history}. Suggest something to follow.",
    "{history} -- what would I enjoy after these?",
]
SIMILAR_ITEM = [
    "Movies similar to {title}",
    "Something like {title}, please.",
    "If I loved {title}, what else would I like?",
    "Recommend a film in the spirit of {title}.",
    "more like {title}",
]
USER_SUMMARY = [
    "I mostly enjoy {genres} films, usually from the {decade}s.",
    "A fan of {genres}; I tend to watch movies from the {decade}s.",
    "My taste: {genres}, and I like {decade}s cinema.",
    "I'm into {genres} movies, especially ones from the {decade}s.",
]
FULL_ATTRIBUTES = [
    "A {year} movie. Genres: {genres}.{tags}",
    "Film released in {year}; genres {genres}.{tags}",
    "{genres} film from {year}.{tags}",
    "Looking for a {year} {genres} title.{tags}",
]
SPARSE_ATTRIBUTES = [
    "a {genre} movie from {year}",
    "{genre}, {year}",
    "some {genre} film released in {year}",
    "{year} {genre}",
    "a movie tagged {tag}",
    "{tag} film",
]
ATTRIBUTE_SUMMARY = [
    "{mood} {genre} from the {decade}s",
    "I want {mood} {genre} made in the {decade}s",
    "looking for {mood} {genre}, {decade}s era",
    "{decade}s {genre}, something {mood}",
]
VAGUE_CONDITION = [
    "{a_condition} {genre} movie{era}",
    "recommend something {condition} in {genre}{era}",
    "{condition} {genre} films{era}",
    "I'd like a {genre}{era} that is {condition}",
]
NEGATIVE_ATTRIBUTES = [
    "a {genre} movie{era}, but no {excluded}",
    "{genre} films{era} without any {excluded}",
    "I want {genre}{era}, not {excluded}",
    "something {genre}{era} -- please no {excluded}",
]
HISTORY_QUERY = [
    "I watched {history}. Now I'm in the mood for {genre}.",
    "Given that I liked {history}, find me some {genre}.",
    "After {history}, I want a {genre} film next.",
    "{history}. Next: something {genre}.",
]

# Words that make a genre sound like a mood in "attribute summary" queries.
MOODS = {
    "Comedy": "a funny", "Romance": "a romantic", "Horror": "a scary", "Thriller": "a tense",
    "Drama": "a serious", "Action": "an action-packed", "Adventure": "an adventurous", "Animation": "an animated",
    "Children": "a family-friendly", "Fantasy": "a magical", "Sci-Fi": "a futuristic", "Mystery": "a mysterious",
    "Crime": "a gritty", "War": "a war-torn", "Musical": "a musical", "Documentary": "a factual",
    "Western": "a frontier", "Film-Noir": "a noir",
}
# How each vague condition is phrased, per the numeric attribute it is read from.
CONDITIONS = {
    "recent": ["recent", "new", "modern"],
    "classic": ["classic", "old", "vintage"],
    "popular": ["popular", "well-known", "mainstream"],
    "acclaimed": ["highly rated", "acclaimed", "critically loved"],
    "obscure": ["lesser-known", "under-the-radar", "obscure"],
    "cheap": ["cheap", "affordable", "budget"],
}
