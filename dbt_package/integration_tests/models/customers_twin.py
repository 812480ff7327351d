def model(dbt, session):
    dbt.config(materialized="dp_twin")
    return dbt.ref("customers")
