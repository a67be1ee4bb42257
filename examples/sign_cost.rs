//! Measures the cost of one ID token signature (the login's largest fixed
//! cost), RS256 (RSA-2048) and ES256 (P-256):
//! `cargo run --release --example sign_cost`.

fn median_micros(enc: &jsonwebtoken::EncodingKey, alg: jsonwebtoken::Algorithm) -> f64 {
    let header = jsonwebtoken::Header::new(alg);
    let claims = serde_json::json!({"iss": "https://bridge.example.com", "sub": "u-1001", "aud": "x", "exp": 1, "iat": 1});
    let mut samples = Vec::new();
    for _ in 0..5 {
        let t = std::time::Instant::now();
        for _ in 0..500 {
            jsonwebtoken::encode(&header, &claims, enc).expect("sign");
        }
        samples.push(t.elapsed().as_secs_f64() * 1e6 / 500.0);
    }
    samples.sort_by(f64::total_cmp);
    samples[2]
}

fn main() {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("key");
    let der = key.to_pkcs1_der().expect("der");
    let rsa = jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes());
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &ring::rand::SystemRandom::new(),
    )
    .expect("key");
    let ec = jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref());
    println!(
        "RS256 sign: median {:.0} µs per token",
        median_micros(&rsa, jsonwebtoken::Algorithm::RS256)
    );
    println!(
        "ES256 sign: median {:.0} µs per token",
        median_micros(&ec, jsonwebtoken::Algorithm::ES256)
    );
}
