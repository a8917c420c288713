select
    contact_id,
    account_id,
    full_name,
    lower(email) as email,
    phone
from {{ source('crm', 'contacts') }}
