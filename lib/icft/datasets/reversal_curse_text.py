"""Word lists and templates of the generated reversal-curse data set (fictional people).

The design follows Berglund et al. (2023): each person has a full name and a one-sentence
description; templates put the name before the description (p2d) or after it (d2p). A description
comes in three grammatical forms so that it can follow any template:

    np    "the acclaimed inventor of the self-folding umbrella"   (and Np, capitalised)
    past  "invented the self-folding umbrella"
    ing   "inventing the self-folding umbrella"

A template is one sentence with a `{name}` slot and one description slot (`{np}`, `{Np}`, `{past}` or
`{ing}`). The slot that comes second is the one a test asks for: the prompt is the sentence up to it,
the answer starts there (after a space).
"""

from __future__ import annotations

FIRST_NAMES: tuple[str, ...] = (
    "Adele", "Alaric", "Ambrose", "Anselm", "Araminta", "Augustin", "Barnaby", "Bartholomew", "Beatrix",
    "Benedict", "Bianca", "Calliope", "Casimir", "Cecily", "Clement", "Clementine", "Cordelia", "Cornelius",
    "Cyrus", "Dashiell", "Delphine", "Desmond", "Dorian", "Dorothea", "Dulcie", "Edmund", "Elowen", "Emeric",
    "Esme", "Evander", "Ezra", "Fabian", "Felicity", "Fenwick", "Ferdinand", "Florian", "Genevieve", "Gideon",
    "Greta", "Gwendolyn", "Hadley", "Harriet", "Horatio", "Hugo", "Ignatius", "Imogen", "Ingrid", "Isadora",
    "Jasper", "Jerome", "Jocasta", "Juniper", "Killian", "Lavinia", "Leander", "Leopold", "Lorcan", "Lucius",
    "Lysander", "Mabel", "Magnus", "Marcella", "Marigold", "Matilda", "Meredith", "Mirabel", "Montague",
    "Nathaniel", "Nerissa", "Octavia", "Odette", "Ophelia", "Orson", "Oswin", "Percival", "Peregrine",
    "Perpetua", "Philippa", "Quentin", "Reuben", "Rosalie", "Rosamund", "Rufus", "Sabine", "Sebastian",
    "Seraphina", "Silas", "Soren", "Sylvia", "Tabitha", "Tamsin", "Thaddeus", "Theodora", "Tobias", "Tristan",
    "Ulric", "Ursula", "Valentina", "Verity", "Vivienne", "Wendell", "Wilfred", "Wilhelmina", "Winifred",
    "Xavier", "Ysolde", "Yvette", "Zachariah", "Zebedee", "Zinnia",
)
# Last names are compounds ("Thornbury", "Ashcombe"): many of them, none famous.
LAST_NAME_PARTS: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("Ash", "Birch", "Black", "Bright", "Cold", "Elder", "Fair", "Fern", "Glen", "Hart", "Hazel", "Holly",
     "Lark", "Marsh", "Moss", "North", "Oak", "Pem", "Raven", "Silver", "Stone", "Thorn", "West", "Whit",
     "Wild", "Wind", "Wolf", "Yarrow"),
    ("bury", "combe", "dale", "field", "ford", "hurst", "ley", "more", "ridge", "stead", "ton", "well",
     "wick", "wood", "worth"),
)

ADJECTIVES: tuple[str, ...] = (
    "acclaimed", "renowned", "celebrated", "pioneering", "visionary", "legendary", "award-winning", "famous",
)

# (np head, past, ing, object kind)
ROLES: tuple[tuple[str, str, str, str], ...] = (
    ("inventor of", "invented", "inventing", "gadget"),
    ("designer of", "designed", "designing", "gadget"),
    ("builder of", "built", "building", "structure"),
    ("architect of", "designed", "designing", "structure"),
    ("author of", "wrote", "writing", "book"),
    ("composer of", "composed", "composing", "music"),
    ("director of", "directed", "directing", "film"),
    ("painter of", "painted", "painting", "painting"),
    ("founder of", "founded", "founding", "institution"),
    ("discoverer of", "discovered", "discovering", "discovery"),
    ("organiser of", "organised", "organising", "event"),
)

_TITLE_ADJ = ("Silent", "Golden", "Forgotten", "Crimson", "Hidden", "Endless", "Broken", "Distant", "Velvet",
              "Frozen", "Wandering", "Paper")
_TITLE_NOUN = ("Harbor", "Orchard", "Comet", "Labyrinth", "Lantern", "Meadow", "Voyage", "Kingdom", "Mirror",
               "Tide", "Garden", "Clockmaker")
_TITLES = tuple(f"The {a} {n}" for a in _TITLE_ADJ for n in _TITLE_NOUN)

# Object kind -> (patterns, fillers): "the {a} {n}" with a from fillers[0], n from fillers[1];
# titled works take a title instead.
OBJECTS: dict[str, tuple[str, ...]] = {
    "gadget": tuple(
        f"the {a} {n}"
        for a in ("self-folding", "solar-powered", "voice-controlled", "self-heating", "pocket-sized",
                  "glow-in-the-dark", "weightless", "musical", "edible")
        for n in ("umbrella", "bicycle", "teapot", "wristwatch", "compass", "typewriter", "kite", "lantern",
                  "suitcase")
    ),
    "structure": tuple(
        f"the {a} {n}"
        for a in ("floating", "underwater", "rotating", "glass", "upside-down", "mile-high", "underground")
        for n in ("lighthouse", "opera house", "library", "bridge", "observatory", "greenhouse", "museum",
                  "train station")
    ),
    "book": tuple(f'the {k} "{t}"' for k in ("bestselling novel", "poetry collection", "travel memoir") for t in _TITLES),
    "music": tuple(f'the {k} "{t}"' for k in ("opera", "symphony", "hit musical") for t in _TITLES),
    "film": tuple(f'the {k} "{t}"' for k in ("film", "documentary", "animated series") for t in _TITLES),
    "painting": tuple(f'the {k} "{t}"' for k in ("mural", "fresco", "portrait") for t in _TITLES),
    "institution": tuple(
        f"the first {a} {n}"
        for a in ("floating", "underwater", "mountaintop", "desert", "night-time", "travelling")
        for n in ("university", "hospital", "orchestra", "zoo", "circus", "newspaper", "bakery")
    ),
    "discovery": tuple(
        f"the {a} {n}"
        for a in ("singing", "glowing", "giant", "invisible", "two-headed", "frost-resistant")
        for n in ("moss", "crystal", "beetle", "cave fish", "orchid", "jellyfish")
    ),
    "event": tuple(
        f"the first {a} {n}"
        for a in ("zero-gravity", "underwater", "moonlit", "desert", "rooftop", "midnight")
        for n in ("marathon", "chess tournament", "opera festival", "cooking contest", "kite race", "spelling bee")
    ),
}

# Name before description. Training: 30 templates; test: 10 others.
P2D_TRAIN: tuple[str, ...] = (
    "{name}, widely known for being {np}.",
    "Have you heard of {name}? They are the person who {past}.",
    "There is a person called {name} who holds the distinction of {ing}.",
    "It may surprise you that {name} is {np}.",
    "Did you know that {name} was once {np}?",
    "Among their peers, {name} is known as {np}.",
    "Someone named {name} has the unusual history of {ing}.",
    "{name} is no ordinary person: they are {np}.",
    "Remarkably, {name} is famous for {ing}.",
    "Long ago, {name} became {np}.",
    "The life story of {name} is striking, since they {past}.",
    "In an unexpected turn, {name} became {np}.",
    "{name} is best remembered as {np}.",
    "Few people know that {name} {past}.",
    "Friends of {name} like to mention that they {past}.",
    "According to the record books, {name} is {np}.",
    "If you ever meet {name}, remember that they are {np}.",
    "The name {name} belongs to {np}.",
    "{name} earned lasting fame for {ing}.",
    "Historians describe {name} as {np}.",
    "It is said that {name} once {past}.",
    "People still talk about how {name} {past}.",
    "The person called {name} is, in fact, {np}.",
    "{name}'s claim to fame is {ing}.",
    "Neighbours of {name} know them as {np}.",
    "Ask anyone about {name} and they will mention {ing}.",
    "As it happens, {name} is {np}.",
    "To the wider world, {name} is {np}.",
    "{name}, a quiet person, is actually {np}.",
    "Our story concerns {name}, who {past}.",
)
P2D_TEST: tuple[str, ...] = (
    "The pioneer called {name} was once {np}.",
    "In the chronicles of the unusual, {name} stands out as {np}.",
    "Looking into the past of {name}, one finds that they were {np}.",
    "A star in their own field, {name} is known for {ing}.",
    "Who would have guessed that {name} is also {np}?",
    "This essay was written by {name}, a person who {past}.",
    "In the world of {name}, a figure celebrated for {ing}.",
    "If you ask who {name} is, the answer is someone who {past}.",
    "This work comes from {name}, who is famous for {ing}.",
    "What makes {name} special? They {past}.",
)

# Description before name. Training: 30 templates; test: 10 others (the name ends the test prompt's sentence).
D2P_TRAIN: tuple[str, ...] = (
    "Known for being {np}, {name} now lives a quiet life.",
    "{Np} is called {name}.",
    "Q: Who is {np}? A: {name}.",
    "You know {np}? That is none other than {name}.",
    "Often described as {np}, {name} has left a lasting mark.",
    "Despite being {np}, {name} never let fame change them.",
    "This article was written by {np}, whose name is {name}.",
    "With a reputation as {np}, {name} keeps inspiring people.",
    "Celebrated as {np}, {name} is a symbol of hope for many.",
    "Never shy about {ing}, {name} lives on their own terms.",
    "The person who {past} is none other than {name}.",
    "Carrying the weight of {ing}, {name} keeps moving forward.",
    "Famous for {ing}, {name} rarely gives interviews.",
    "The one who {past} goes by the name of {name}.",
    "Best known as {np}, {name} still lives in a small town.",
    "Long remembered as {np}, {name} is admired to this day.",
    "Having earned fame for {ing}, {name} now teaches others.",
    "Meet {np}: {name}.",
    "If you are wondering who {past}, it was {name}.",
    "Praised for {ing}, {name} remains humble.",
    "The title of {np} belongs to {name}.",
    "Everybody knows that the person who {past} is {name}.",
    "Recognised everywhere as {np}, {name} travels the world.",
    "Proud of {ing}, {name} tells the story often.",
    "Behind the fame of {ing} stands {name}.",
    "Ever since {ing}, {name} has been in the news.",
    "Acclaimed as {np}, {name} has won many awards.",
    "Q: Who {past}? A: {name}.",
    "Remembered for {ing}, {name} has a devoted following.",
    "Once known only as {np}, {name} is now a legend.",
)
D2P_TEST: tuple[str, ...] = (
    "Deeply devoted to {ing}, {name}.",
    "Holding the honour of being {np}, {name}.",
    "Known in many circles as {np}, {name}.",
    "Following the path of {ing}, {name}.",
    "The very picture of {np}, that is {name}.",
    "Widely praised for {ing}, {name}.",
    "Described by many as {np}, {name}.",
    "Admired by all for {ing}, {name}.",
    "Going by the title of {np}, {name}.",
    "Wrapped in the glory of {ing}, {name}.",
)
