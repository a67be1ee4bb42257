//! Measures the cost of one RS256 ID token signature (the token endpoint's
//! largest fixed cost): `cargo run --release --example sign_cost`.
fn main() {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("key");
    let der = key.to_pkcs1_der().expect("der");
    let enc = jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes());
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    let claims = serde_json::json!({"iss": "https://bridge.example.com", "sub": "u-1001", "aud": "x", "exp": 1, "iat": 1});
    let mut samples = Vec::new();
    for _ in 0..5 {
        let t = std::time::Instant::now();
        for _ in 0..500 {
            jsonwebtoken::encode(&header, &claims, &enc).expect("sign");
        }
        samples.push(t.elapsed().as_secs_f64() * 1e6 / 500.0);
    }
    samples.sort_by(f64::total_cmp);
    println!("RS256 sign: median {:.0} µs per token", samples[2]);
}
