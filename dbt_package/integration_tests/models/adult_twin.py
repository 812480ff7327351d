import dp_synth.dbt


def model(dbt, session):
    dbt.config(materialized="table")
    return dp_synth.dbt.synthesize(dbt, session, source=dbt.ref("adult_sample"),
                                   settings=dbt.config.get("meta"))
