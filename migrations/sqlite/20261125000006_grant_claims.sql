-- The claims parameter (OIDC Core §5.5): the claims a grant's client asked
-- for one by one, JSON, kept so refreshed ID tokens and userinfo release
-- the same ones. Empty for grants without a claims request.
ALTER TABLE grants ADD COLUMN claims TEXT NOT NULL DEFAULT '';
