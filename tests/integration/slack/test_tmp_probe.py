from memory.principals import Principal

async def test_probe(corpus, service):
    for q in ["What is the return policy?", "What is the refund policy for returns?", "How long does standard shipping take?", "What is the staff discount code?"]:
        r = await service.ask(Principal.parse("employee:U1"), None, q, channel="web")
        print("\n", q, "->", r["steps"], r["answer"][:150], [c["source"] for c in r["citations"]])
