def model(dbt, session):
    # the dp_twin materialization trains, writes the twin and its ledger row together
    dbt.config(materialized="dp_twin")
    return dbt.ref("adult_sample")
