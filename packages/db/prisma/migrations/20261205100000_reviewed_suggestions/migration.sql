-- The automatic first pass's suggestions a person has accepted or discarded, so they are not offered again.

-- AlterTable
ALTER TABLE "Investigation" ADD COLUMN     "reviewedSuggestions" JSONB NOT NULL DEFAULT '[]';
