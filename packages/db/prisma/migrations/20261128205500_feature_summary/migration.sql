-- CreateTable
CREATE TABLE "FeatureSummary" (
    "dictionaryId" TEXT NOT NULL,
    "layer" INTEGER NOT NULL,
    "featureIndex" INTEGER NOT NULL,
    "density" DOUBLE PRECISION NOT NULL,
    "actMax" DOUBLE PRECISION NOT NULL,
    "autoLabel" TEXT NOT NULL DEFAULT '',
    "topLogits" JSONB NOT NULL,
    "bottomLogits" JSONB NOT NULL,
    "record" BYTEA NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "FeatureSummary_pkey" PRIMARY KEY ("dictionaryId","layer","featureIndex")
);

-- CreateIndex
CREATE INDEX "FeatureSummary_dictionaryId_density_idx" ON "FeatureSummary"("dictionaryId", "density");

-- AddForeignKey
ALTER TABLE "FeatureSummary" ADD CONSTRAINT "FeatureSummary_dictionaryId_fkey" FOREIGN KEY ("dictionaryId") REFERENCES "Dictionary"("id") ON DELETE CASCADE ON UPDATE CASCADE;

