-- CRM pipeline per account: open, won and lost deal amounts, and how many contacts it has.
with deals as (
    select
        account_id,
        sum(case when stage in ('lead', 'qualified') then amount else 0 end) as open_amount,
        sum(case when stage = 'won' then amount else 0 end) as won_amount,
        sum(case when stage = 'lost' then amount else 0 end) as lost_amount,
        count(*) as deal_count
    from {{ ref('stg_deals') }}
    group by account_id
),

contacts as (
    select account_id, count(*) as contact_count
    from {{ ref('stg_contacts') }}
    group by account_id
)

select
    a.account_id,
    a.account_name,
    a.industry,
    coalesce(d.deal_count, 0) as deal_count,
    coalesce(d.open_amount, 0) as open_amount,
    coalesce(d.won_amount, 0) as won_amount,
    coalesce(d.lost_amount, 0) as lost_amount,
    coalesce(c.contact_count, 0) as contact_count
from {{ ref('stg_accounts') }} as a
left join deals as d on d.account_id = a.account_id
left join contacts as c on c.account_id = a.account_id
