-- Read-only teams every signed-in user can read (the seeded Examples), and the seed revision they hold.

-- AlterTable
ALTER TABLE "Team" ADD COLUMN     "readOnly" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "seedKey" TEXT,
ADD COLUMN     "seedRevision" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "Team_seedKey_key" ON "Team"("seedKey");
