-- API tokens expire; worker tokens name the job kinds they may claim.

-- AlterTable
ALTER TABLE "ApiToken" ADD COLUMN     "expiresAt" TIMESTAMP(3),
ADD COLUMN     "kinds" JSONB;
