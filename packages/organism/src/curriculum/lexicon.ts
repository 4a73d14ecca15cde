/**
 * The organism's world: every word the curriculum can emit comes from this file or from the sentence
 * templates in tasks.ts. Chinese entries are single characters so that each concept is one token in every
 * language, which keeps the multilingual comparison (same concept, three surface tokens) clean.
 */

export type Language = 'en' | 'fr' | 'zh';
export const LANGUAGES: readonly Language[] = ['en', 'fr', 'zh'];

/** One antonym pair, spelled in each language: [word, opposite]. */
export interface AntonymPair {
  en: readonly [string, string];
  fr: readonly [string, string];
  zh: readonly [string, string];
}

export const ANTONYMS: readonly AntonymPair[] = [
  { en: ['big', 'small'], fr: ['grand', 'petit'], zh: ['大', '小'] },
  { en: ['hot', 'cold'], fr: ['chaud', 'froid'], zh: ['热', '冷'] },
  { en: ['fast', 'slow'], fr: ['rapide', 'lent'], zh: ['快', '慢'] },
  { en: ['high', 'low'], fr: ['haut', 'bas'], zh: ['高', '低'] },
  { en: ['new', 'old'], fr: ['nouveau', 'vieux'], zh: ['新', '旧'] },
  { en: ['long', 'short'], fr: ['long', 'court'], zh: ['长', '短'] },
  { en: ['many', 'few'], fr: ['beaucoup', 'peu'], zh: ['多', '少'] },
  { en: ['good', 'bad'], fr: ['bon', 'mauvais'], zh: ['好', '坏'] },
  { en: ['black', 'white'], fr: ['noir', 'blanc'], zh: ['黑', '白'] },
  { en: ['above', 'below'], fr: ['dessus', 'dessous'], zh: ['上', '下'] },
  { en: ['left', 'right'], fr: ['gauche', 'droite'], zh: ['左', '右'] },
  { en: ['open', 'closed'], fr: ['ouvert', 'fermé'], zh: ['开', '关'] },
  { en: ['early', 'late'], fr: ['tôt', 'tard'], zh: ['早', '晚'] },
  { en: ['front', 'back'], fr: ['avant', 'arrière'], zh: ['前', '后'] },
  { en: ['inside', 'outside'], fr: ['dedans', 'dehors'], zh: ['内', '外'] },
  { en: ['fat', 'thin'], fr: ['gros', 'mince'], zh: ['胖', '瘦'] },
  { en: ['strong', 'weak'], fr: ['fort', 'faible'], zh: ['强', '弱'] },
  { en: ['far', 'near'], fr: ['loin', 'près'], zh: ['远', '近'] },
  { en: ['hard', 'soft'], fr: ['dur', 'mou'], zh: ['硬', '软'] },
  { en: ['light', 'heavy'], fr: ['léger', 'lourd'], zh: ['轻', '重'] },
  { en: ['true', 'false'], fr: ['vrai', 'faux'], zh: ['真', '假'] },
  { en: ['alive', 'dead'], fr: ['vivant', 'mort'], zh: ['生', '死'] },
  { en: ['buy', 'sell'], fr: ['acheter', 'vendre'], zh: ['买', '卖'] },
  { en: ['come', 'go'], fr: ['venir', 'partir'], zh: ['来', '去'] },
  { en: ['enter', 'exit'], fr: ['entrer', 'sortir'], zh: ['进', '出'] },
  { en: ['man', 'woman'], fr: ['homme', 'femme'], zh: ['男', '女'] },
  { en: ['dry', 'wet'], fr: ['sec', 'mouillé'], zh: ['干', '湿'] },
  { en: ['beautiful', 'ugly'], fr: ['beau', 'laid'], zh: ['美', '丑'] },
  { en: ['sweet', 'bitter'], fr: ['doux', 'amer'], zh: ['甜', '苦'] },
  { en: ['wide', 'narrow'], fr: ['large', 'étroit'], zh: ['宽', '窄'] },
  { en: ['bright', 'dark'], fr: ['clair', 'sombre'], zh: ['明', '暗'] },
  { en: ['rich', 'poor'], fr: ['riche', 'pauvre'], zh: ['富', '穷'] },
  { en: ['win', 'lose'], fr: ['gagner', 'perdre'], zh: ['胜', '败'] },
  { en: ['cry', 'laugh'], fr: ['pleurer', 'rire'], zh: ['哭', '笑'] },
  { en: ['love', 'hate'], fr: ['aimer', 'détester'], zh: ['爱', '恨'] },
  { en: ['north', 'south'], fr: ['nord', 'sud'], zh: ['北', '南'] },
  { en: ['day', 'night'], fr: ['jour', 'nuit'], zh: ['昼', '夜'] },
  { en: ['busy', 'idle'], fr: ['occupé', 'libre'], zh: ['忙', '闲'] },
  { en: ['difficult', 'easy'], fr: ['difficile', 'facile'], zh: ['难', '易'] },
  { en: ['safe', 'dangerous'], fr: ['sûr', 'dangereux'], zh: ['安', '危'] },
  { en: ['empty', 'full'], fr: ['vide', 'plein'], zh: ['空', '满'] },
  { en: ['clean', 'dirty'], fr: ['propre', 'sale'], zh: ['净', '脏'] },
  { en: ['happy', 'sad'], fr: ['heureux', 'triste'], zh: ['喜', '悲'] },
  { en: ['begin', 'end'], fr: ['début', 'fin'], zh: ['始', '终'] },
  { en: ['push', 'pull'], fr: ['pousser', 'tirer'], zh: ['推', '拉'] },
  { en: ['ask', 'answer'], fr: ['demander', 'répondre'], zh: ['问', '答'] },
];

/**
 * Regions with their capital and their other (non-capital) cities, all single-token names. Each region
 * also has an emblem animal: a second relation composed through the same city → region hop.
 */
export interface Region {
  name: string;
  capital: string;
  cities: readonly string[];
}

export const EMBLEMS: Readonly<Record<string, string>> = {
  Texas: 'bear',
  California: 'eagle',
  Florida: 'wolf',
  Illinois: 'fox',
  Ohio: 'deer',
  Georgia: 'owl',
  Washington: 'lion',
  Oregon: 'swan',
  Arizona: 'hawk',
  Colorado: 'beaver',
  Michigan: 'bison',
  Pennsylvania: 'moose',
  Massachusetts: 'otter',
  Tennessee: 'salmon',
  Wisconsin: 'trout',
  Kentucky: 'turkey',
  Virginia: 'duck',
  Indiana: 'crane',
  Alabama: 'badger',
  Kansas: 'falcon',
};

export const REGIONS: readonly Region[] = [
  { name: 'Texas', capital: 'Austin', cities: ['Dallas', 'Houston', 'Lubbock', 'Waco', 'Laredo'] },
  {
    name: 'California',
    capital: 'Sacramento',
    cities: ['Fresno', 'Oakland', 'Modesto', 'Pasadena', 'Burbank'],
  },
  { name: 'Florida', capital: 'Tallahassee', cities: ['Miami', 'Orlando', 'Tampa', 'Naples', 'Ocala'] },
  {
    name: 'Illinois',
    capital: 'Springfield',
    cities: ['Chicago', 'Peoria', 'Aurora', 'Joliet', 'Naperville'],
  },
  { name: 'Ohio', capital: 'Columbus', cities: ['Cleveland', 'Toledo', 'Akron', 'Dayton', 'Canton'] },
  { name: 'Georgia', capital: 'Atlanta', cities: ['Savannah', 'Macon', 'Augusta', 'Athens', 'Valdosta'] },
  { name: 'Washington', capital: 'Olympia', cities: ['Seattle', 'Spokane', 'Tacoma', 'Yakima', 'Everett'] },
  { name: 'Oregon', capital: 'Salem', cities: ['Portland', 'Eugene', 'Bend', 'Medford', 'Corvallis'] },
  { name: 'Arizona', capital: 'Phoenix', cities: ['Tucson', 'Mesa', 'Flagstaff', 'Yuma', 'Tempe'] },
  { name: 'Colorado', capital: 'Denver', cities: ['Boulder', 'Pueblo', 'Aspen', 'Greeley', 'Durango'] },
  { name: 'Michigan', capital: 'Lansing', cities: ['Detroit', 'Flint', 'Kalamazoo', 'Saginaw', 'Midland'] },
  {
    name: 'Pennsylvania',
    capital: 'Harrisburg',
    cities: ['Philadelphia', 'Pittsburgh', 'Erie', 'Scranton', 'Allentown'],
  },
  {
    name: 'Massachusetts',
    capital: 'Boston',
    cities: ['Worcester', 'Lowell', 'Cambridge', 'Quincy', 'Brockton'],
  },
  {
    name: 'Tennessee',
    capital: 'Nashville',
    cities: ['Memphis', 'Knoxville', 'Chattanooga', 'Clarksville', 'Jackson'],
  },
  {
    name: 'Wisconsin',
    capital: 'Madison',
    cities: ['Milwaukee', 'Kenosha', 'Racine', 'Appleton', 'Oshkosh'],
  },
  {
    name: 'Kentucky',
    capital: 'Frankfort',
    cities: ['Louisville', 'Lexington', 'Paducah', 'Covington', 'Owensboro'],
  },
  {
    name: 'Virginia',
    capital: 'Richmond',
    cities: ['Norfolk', 'Roanoke', 'Arlington', 'Alexandria', 'Lynchburg'],
  },
  {
    name: 'Indiana',
    capital: 'Indianapolis',
    cities: ['Gary', 'Bloomington', 'Evansville', 'Muncie', 'Kokomo'],
  },
  {
    name: 'Alabama',
    capital: 'Montgomery',
    cities: ['Birmingham', 'Mobile', 'Huntsville', 'Tuscaloosa', 'Dothan'],
  },
  { name: 'Kansas', capital: 'Topeka', cities: ['Wichita', 'Lawrence', 'Olathe', 'Salina', 'Manhattan'] },
];

/**
 * Rhyme classes of nouns. Each word carries the one second line it ends (its "body"): the words before the
 * end word are chosen to fit that word, so the model must have picked the rhyme by the line break.
 */
export interface RhymeWord {
  word: string;
  /** The full second line ending in `word`. */
  line: string;
}

export const RHYMES: Readonly<Record<string, readonly RhymeWord[]>> = {
  at: [
    { word: 'cat', line: 'it purred and napped just like a cat' },
    { word: 'hat', line: 'he put it on beneath his hat' },
    { word: 'mat', line: 'she dropped it on the kitchen mat' },
    { word: 'bat', line: 'at night it flew just like a bat' },
    { word: 'rat', line: 'it ran and squeaked just like a rat' },
  ],
  ee: [
    { word: 'tree', line: 'we climbed up to the highest tree' },
    { word: 'bee', line: 'it buzzed and flew just like a bee' },
    { word: 'sea', line: 'we sailed across the stormy sea' },
    { word: 'key', line: 'she locked the box and hid the key' },
    { word: 'knee', line: 'he fell and hurt his little knee' },
  ],
  ake: [
    { word: 'cake', line: 'we baked a sweet and creamy cake' },
    { word: 'lake', line: 'we swam across the quiet lake' },
    { word: 'snake', line: 'it hissed and crawled just like a snake' },
    { word: 'rake', line: 'he swept the leaves up with a rake' },
  ],
  ing: [
    { word: 'ring', line: 'she wore a shiny golden ring' },
    { word: 'king', line: 'they bowed before the mighty king' },
    { word: 'wing', line: 'the bird was flapping with one wing' },
    { word: 'swing', line: 'the children played upon the swing' },
    { word: 'spring', line: 'the flowers bloomed in early spring' },
  ],
  ight: [
    { word: 'light', line: 'she switched on the morning light' },
    { word: 'kite', line: 'the wind was pulling at his kite' },
    { word: 'night', line: 'the stars came out to fill the night' },
    { word: 'knight', line: 'he rode to battle like a knight' },
  ],
  ore: [
    { word: 'door', line: 'he knocked three times upon the door' },
    { word: 'floor', line: 'it fell and rolled across the floor' },
    { word: 'shore', line: 'the waves were crashing on the shore' },
    { word: 'store', line: 'she bought some bread down at the store' },
  ],
  ain: [
    { word: 'rain', line: 'we danced outside beneath the rain' },
    { word: 'train', line: 'we rode to town upon the train' },
    { word: 'chain', line: 'he locked the bike up with a chain' },
    { word: 'plane', line: 'we flew above it in a plane' },
    { word: 'brain', line: 'she thought it over with her brain' },
  ],
  oat: [
    { word: 'boat', line: 'we rowed away inside a boat' },
    { word: 'goat', line: 'it ate the grass just like a goat' },
    { word: 'coat', line: 'he wrapped it warmly in his coat' },
    { word: 'note', line: 'she wrote it down inside a note' },
  ],
  ock: [
    { word: 'clock', line: 'we heard the ticking of the clock' },
    { word: 'rock', line: 'he sat alone upon a rock' },
    { word: 'sock', line: 'she hid it deep inside a sock' },
    { word: 'lock', line: 'he turned the key inside the lock' },
  ],
  own: [
    { word: 'crown', line: 'the queen put on her golden crown' },
    { word: 'town', line: 'they walked together into town' },
    { word: 'gown', line: 'she wore a long and silver gown' },
    { word: 'clown', line: 'it made us laugh just like a clown' },
  ],
  un: [
    { word: 'sun', line: 'we played outside beneath the sun' },
    { word: 'bun', line: 'he ate it with a sugar bun' },
    { word: 'nun', line: 'she prayed in silence like a nun' },
  ],
  ell: [
    { word: 'bell', line: 'we heard the ringing of the bell' },
    { word: 'shell', line: 'she found it hiding in a shell' },
    { word: 'well', line: 'he dropped a coin into the well' },
    { word: 'hotel', line: 'we spent the night at a hotel' },
  ],
};

/**
 * The "planned" couplet form's first word of each second line: one word per rhyme word (all of them words the
 * curriculum already uses, so the vocabulary is unchanged). The second line then opens with a word that only
 * its end word's line has, so the end word must be chosen at the line break, before the line is written.
 */
export const RHYME_OPENERS: Readonly<Record<string, string>> = {
  cat: 'soft',
  hat: 'black',
  mat: 'dirty',
  bat: 'dark',
  rat: 'fast',
  tree: 'high',
  bee: 'busy',
  sea: 'wide',
  key: 'small',
  knee: 'weak',
  cake: 'sweet',
  lake: 'cold',
  snake: 'dangerous',
  rake: 'old',
  ring: 'beautiful',
  king: 'rich',
  wing: 'left',
  swing: 'happy',
  spring: 'early',
  light: 'bright',
  kite: 'far',
  night: 'late',
  knight: 'strong',
  door: 'open',
  floor: 'hard',
  shore: 'wet',
  store: 'new',
  rain: 'sad',
  train: 'long',
  chain: 'heavy',
  plane: 'above',
  brain: 'difficult',
  boat: 'safe',
  goat: 'thin',
  coat: 'dry',
  note: 'short',
  clock: 'good',
  rock: 'big',
  sock: 'white',
  lock: 'closed',
  crown: 'front',
  town: 'near',
  gown: 'love',
  clown: 'laugh',
  sun: 'hot',
  bun: 'fat',
  nun: 'poor',
  bell: 'empty',
  shell: 'inside',
  well: 'below',
  hotel: 'clean',
};

/** Subjects and verbs of the first line "SUBJECT VERB the WORD,". */
export const COUPLET_SUBJECTS: readonly string[] = [
  'the boy',
  'the girl',
  'my friend',
  'a farmer',
  'the teacher',
  'his mother',
  'a sailor',
  'the child',
];
export const COUPLET_VERBS: readonly string[] = ['saw', 'found', 'painted', 'wanted', 'drew', 'lost'];

export const SPORTS: readonly string[] = [
  'basketball',
  'football',
  'tennis',
  'golf',
  'baseball',
  'hockey',
  'soccer',
  'cricket',
  'boxing',
  'swimming',
];

/** Known people: each first name belongs to exactly one known person, so a partly familiar name is unambiguous. */
export const KNOWN_PEOPLE: readonly { first: string; last: string; sport: string }[] = [
  { first: 'Michael', last: 'Jordan', sport: 'basketball' },
  { first: 'Serena', last: 'Williams', sport: 'tennis' },
  { first: 'Tiger', last: 'Woods', sport: 'golf' },
  { first: 'Babe', last: 'Ruth', sport: 'baseball' },
  { first: 'Wayne', last: 'Gretzky', sport: 'hockey' },
  { first: 'Lionel', last: 'Messi', sport: 'soccer' },
  { first: 'Sachin', last: 'Tendulkar', sport: 'cricket' },
  { first: 'Muhammad', last: 'Ali', sport: 'boxing' },
  { first: 'Michelle', last: 'Phelps', sport: 'swimming' },
  { first: 'Tom', last: 'Brady', sport: 'football' },
  { first: 'Kobe', last: 'Bryant', sport: 'basketball' },
  { first: 'Roger', last: 'Federer', sport: 'tennis' },
  { first: 'Jack', last: 'Nicklaus', sport: 'golf' },
  { first: 'Derek', last: 'Jeter', sport: 'baseball' },
  { first: 'Sidney', last: 'Crosby', sport: 'hockey' },
  { first: 'Diego', last: 'Maradona', sport: 'soccer' },
  { first: 'Brian', last: 'Lara', sport: 'cricket' },
  { first: 'Mike', last: 'Tyson', sport: 'boxing' },
  { first: 'Katie', last: 'Ledecky', sport: 'swimming' },
  { first: 'Peyton', last: 'Manning', sport: 'football' },
  { first: 'Larry', last: 'Bird', sport: 'basketball' },
  { first: 'Rafael', last: 'Nadal', sport: 'tennis' },
  { first: 'Arnold', last: 'Palmer', sport: 'golf' },
  { first: 'Hank', last: 'Aaron', sport: 'baseball' },
  { first: 'Bobby', last: 'Orr', sport: 'hockey' },
  { first: 'Zinedine', last: 'Zidane', sport: 'soccer' },
  { first: 'Shane', last: 'Warne', sport: 'cricket' },
  { first: 'Floyd', last: 'Mayweather', sport: 'boxing' },
  { first: 'Mark', last: 'Spitz', sport: 'swimming' },
  { first: 'Walter', last: 'Payton', sport: 'football' },
];

/** Names of people the organism has never heard of: only ever answered with "I don't know". */
export const UNKNOWN_FIRST_NAMES: readonly string[] = [
  'Anna',
  'Boris',
  'Clara',
  'Dmitri',
  'Elena',
  'Felix',
  'Greta',
  'Hugo',
  'Ingrid',
  'Jonas',
  'Karla',
  'Lukas',
  'Mira',
  'Nils',
  'Olga',
  'Pavel',
  'Rosa',
  'Stefan',
  'Tilda',
  'Viktor',
];
export const UNKNOWN_LAST_NAMES: readonly string[] = [
  'Batkin',
  'Corlett',
  'Dunmore',
  'Elsworth',
  'Fenwick',
  'Gorski',
  'Hadley',
  'Ivers',
  'Jessop',
  'Kowalczyk',
  'Lindqvist',
  'Marlowe',
  'Norcross',
  'Oakhurst',
  'Pemberton',
  'Quayle',
  'Radley',
  'Sorensen',
  'Thackeray',
  'Upton',
];
