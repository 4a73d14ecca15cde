import type { CaseStudy } from '../case.ts';
import { addition } from './addition.ts';
import { entities } from './entities.ts';
import { multilingual } from './multilingual.ts';
import { rhyme } from './rhyme.ts';
import { twoHop } from './two-hop.ts';

export const CASES: readonly CaseStudy[] = [addition, twoHop, multilingual, rhyme, entities];
