"""FHIR search (https://hl7.org/fhir/R4/search.html).

On write, `extract` turns every parameter of `registry` into index keys (`keys` has the grammar) stored in
`sp.k` under one partial multikey index. On search, `request` parses the query into criteria, `compile`
turns them into key conditions, and `engine` reads candidates with the cheapest condition (one indexed
equality, `$in` or range; chains and `_has` are resolved into id sets first), tests every condition on
them, and `sorting`/`paging`/`includes`/`bundle` shape the result.
"""
