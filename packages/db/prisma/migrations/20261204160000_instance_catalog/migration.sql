-- Instance catalogue (models and dictionaries without a team, keyed), per-team feature annotations,
-- instance jobs, and the trace job of an investigation.

-- DropIndex
DROP INDEX "FeatureAnnotation_dictionaryId_layer_featureIndex_key";

-- AlterTable
ALTER TABLE "Model" ADD COLUMN     "key" TEXT,
ALTER COLUMN "teamId" DROP NOT NULL;

-- AlterTable
ALTER TABLE "Dictionary" ADD COLUMN     "key" TEXT,
ALTER COLUMN "teamId" DROP NOT NULL;

-- AlterTable: each annotation belongs to the team that owned its dictionary when it was written
ALTER TABLE "FeatureAnnotation" ADD COLUMN     "teamId" TEXT;
UPDATE "FeatureAnnotation" a SET "teamId" = d."teamId" FROM "Dictionary" d WHERE d.id = a."dictionaryId";
ALTER TABLE "FeatureAnnotation" ALTER COLUMN "teamId" SET NOT NULL;

-- AlterTable
ALTER TABLE "Investigation" ADD COLUMN     "traceJobId" TEXT,
ADD COLUMN     "updatedById" TEXT;

-- AlterTable
ALTER TABLE "Job" ALTER COLUMN "teamId" DROP NOT NULL;

-- CreateIndex
CREATE UNIQUE INDEX "Model_key_key" ON "Model"("key");

-- CreateIndex
CREATE UNIQUE INDEX "Dictionary_key_key" ON "Dictionary"("key");

-- CreateIndex
CREATE INDEX "FeatureAnnotation_dictionaryId_layer_featureIndex_idx" ON "FeatureAnnotation"("dictionaryId", "layer", "featureIndex");

-- CreateIndex
CREATE UNIQUE INDEX "FeatureAnnotation_teamId_dictionaryId_layer_featureIndex_key" ON "FeatureAnnotation"("teamId", "dictionaryId", "layer", "featureIndex");

-- CreateIndex
CREATE INDEX "Investigation_traceJobId_idx" ON "Investigation"("traceJobId");

-- CreateIndex
CREATE INDEX "Job_kind_teamId_idx" ON "Job"("kind", "teamId");

-- AddForeignKey
ALTER TABLE "FeatureAnnotation" ADD CONSTRAINT "FeatureAnnotation_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "Team"("id") ON DELETE CASCADE ON UPDATE CASCADE;
