import dp_synth.dbt


def model(dbt, session):
    dbt.config(materialized="table")
    return dp_synth.dbt.synthesize(dbt, session, source=dbt.ref("customers"),
                                   settings=dbt.config.get("meta"))
